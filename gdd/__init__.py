"""gdd: Generative Dataset Distillation (global structure + local details) and SSD-KD, in PyTorch."""
__version__ = "0.1.0"
