"""Training data and evaluation: labelled datasets, leak-free splits, a face-crop cache, self-blended
pseudo-fakes, and detection metrics. Pure engine code (numpy / OpenCV / MediaPipe / scikit-learn), never Qt.

Modules (import them directly; this package imports nothing so ``import core.training`` stays cheap):

- ``dataset``   ``Sample``; ``scan_folder`` (real/ + fake/<method>/ folders), ``read_manifest`` (CSV)
- ``splits``    ``split_samples`` (no identity crosses splits), ``save_split`` / ``load_split``, ``split_report``
- ``facecache`` ``FaceCache``: aligned face crops extracted once per file, keyed by the file's SHA-256
- ``sbi``       ``self_blend``: self-blended images (Shiohara & Yamasaki, CVPR 2022) from real faces
- ``metrics``   frame / video AUC, AP, EER, accuracy at a threshold, ROC curve PNG
"""
