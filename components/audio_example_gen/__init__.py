"""AudioExampleGen: audio files + labels -> split, sharded, compressed tf.Example TFRecords."""
