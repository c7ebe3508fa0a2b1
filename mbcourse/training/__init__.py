"""Training: the datasets and loaders (:mod:`.data`) and the training loop (:mod:`.train`)."""
