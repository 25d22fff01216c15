"""The Keras training code run by the standard TFX Trainer (`run_fn="components.keras_trainer.trainer.run_fn"`).

Modules: trainer (run_fn), models (the three model families), strategy (distribution from the hardware),
dataset (tf.data input from the transformed TFRecords), serving (signatures and export),
track_prediction (a whole track from its segments). See README.md.
"""
