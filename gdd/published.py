"""Numbers published in the papers (typed in from PAPERS.md, labelled as published; never
computed here). ConvNet-3 evaluation, accuracy in %, mean over the papers' runs."""

# Table 1 references: image-based distillation methods (DC, DSA), IPC -> accuracy
TABLE1 = {
    "DC (published)": {"mnist": {1: 91.7, 10: 97.4, 50: 98.8},
                       "fashion_mnist": {1: 70.5, 10: 82.3, 50: 83.6},
                       "cifar10": {1: 28.3, 10: 44.9, 50: 53.9}},
    "DSA (published)": {"mnist": {1: 88.7, 10: 97.8, 50: 99.2},
                        "fashion_mnist": {1: 70.6, 10: 84.6, 50: 88.7},
                        "cifar10": {1: 28.8, 10: 52.1, 50: 60.6}},
}

# DiM's own headline (CIFAR-10, IPC 10)
DIM = {"cifar10": {10: {"convnet3": 72.6, "resnet18": 75.1}}}

# Fast-Datafree's table (CIFAR-10): teacher -> student accuracy (%) and training time (hours)
DATAFREE_CIFAR10 = {
    "ResNet-34 -> ResNet-18": {"teacher": 95.70, "DeepInversion": (93.26, 42.1), "CMI": (94.84, 19.0),
                               "DAFL": (92.22, 2.73), "ZSKT": (93.32, 1.67), "DFQ": (94.61, 8.79),
                               "Fast-10": (94.05, 0.28)},
    "WRN-40-2 -> WRN-16-2": {"teacher": 94.87, "DeepInversion": (89.72, None), "CMI": (92.52, None),
                             "Fast-10": (92.45, 0.17)},
}
