"""The named choices of the estimators, the factory and the command line.

One home for every list of names a parameter takes, so that
:func:`~sklearn_leukemia.make_leukemia_pipeline`, the estimators that
validate them and ``sklearn-leukemia --help`` cannot drift apart. Importing
it costs nothing: the command line builds its parser from it without
importing torch or scikit-learn.
"""

#: ``ContrastAdjuster(method=...)``, ``make_leukemia_pipeline(contrast=...)``.
CONTRAST_METHODS = ("stretch", "clahe", "gamma")
#: ``ImageDenoiser(method=...)``, ``make_leukemia_pipeline(denoise=...)``.
DENOISE_METHODS = ("gaussian", "median", "bilateral", "nl_means")
#: ``IntensityNormalizer(method=...)``, ``make_leukemia_pipeline(normalize=...)``.
NORMALIZE_METHODS = ("standard", "unit", "symmetric")
#: ``AugmentationPolicy.preset(name)``, ``SECNNClassifier(augmentation=...)``.
AUGMENTATION_PRESETS = ("default", "paper", "orientation", "flips", "dihedral", "erase")
#: ``SECNNClassifier(tta=...)``.
TTA_MODES = ("flips", "dihedral")
#: ``SECNNClassifier(lr_schedule=...)``.
LR_SCHEDULES = ("cosine", "onecycle", "step")
#: ``SECNNClassifier(optimizer=...)``.
OPTIMIZERS = ("adamw", "adam", "sgd")
#: ``SECNNClassifier(monitor=...)``.
MONITORS = ("valid_loss", "valid_acc", "train_loss")
#: ``ImageReader(on_error=...)``, the loaders and ``--on-error``.
ON_ERROR = ("raise", "skip")
