"""A person's image -> normalised 28x28 digits, with no model: image files
(:mod:`~digitnet.imaging.imagefile`), the ink map and MNIST-style normalisation
(:mod:`~digitnet.imaging.images`), connected components (:mod:`~digitnet.imaging.components`)
and segmentation into digits (:mod:`~digitnet.imaging.segment`)."""
