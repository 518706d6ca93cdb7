"""Small-scale data-free knowledge distillation (SSD-KD, Liu et al. CVPR 2024) and its baselines.

- ``teacher``: supervised training on real data (the teacher; the reference students);
- ``synthesis``: the generator, the BN-statistics loss, the modulation function phi;
- ``buffer``: the replay buffer and priority sampling;
- ``train``: the data-free KD loop (methods adv, ssdkd, ssdkd_nophi, ssdkd_noprio, adv_small);
- ``experiments``: cached experiment functions for the notebooks;
- ``cli``: ``gdd train-teacher`` and ``gdd datafree``.
"""
