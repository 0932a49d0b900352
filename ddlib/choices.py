"""The fixed names the command line offers, as plain tuples [issue 38: help in under a second]: argparse's
``choices=`` and help text read them here, so ``python -m ddlib --help`` builds its parser without importing torch
and the registries behind them. Each copies one registry; tests/test_cli.py checks that it still equals it."""

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "mnist", "svhn", "tinyimagenet", "digits")   # data.LOADERS
SELECTORS = ("random", "herding", "kcenter", "el2n", "forgetting", "aum", "learned_epoch", "dyn_unc", "window",
             "ccs", "cad")                                                                  # select.SELECTORS
METHODS = ("dm", "dc", "mtt", "datm", "sre2l", "rded", "ca2d")                              # distill.METHODS
REGIMES = ("hl", "sl", "slkd")                                                              # regimes.REGIMES
OPTIMIZERS = ("auto", "sgd", "adamw")                                     # "auto" and train.OPTIMIZERS
SCHEDULES = ("step", "cosine", "constant")                                                  # train.SCHEDULES
AUGMENTATIONS = ("none", "crop_flip", "dsa")                                                # augment.AUGMENTATIONS
FINDINGS = ("label_regimes", "saturation", "hard_labels", "difficulty", "cad_prune")        # findings.FINDINGS
EVIDENCE = (*FINDINGS[:5], "audit", "pitfalls")                                             # findings.EVIDENCE
