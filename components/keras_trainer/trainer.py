"""run_fn for the standard TFX Trainer: train the configured Keras model family and export it for serving.

    tfx.components.Trainer(examples=..., transform_graph=..., run_fn="components.keras_trainer.trainer.run_fn",
                           custom_config=trainer_settings.to_custom_config(), ...)

Reads: TrainerSettings (settings.py: the trainer hyper-parameters, the genres and the expected featurizer
settings; nothing else) from custom_config["trainer_settings"]; the featurizer (SpectrogramTransform's
exported SavedModel) from fn_args.transform_graph_path; the train/eval TFRecords from fn_args.
Writes: the serving SavedModel (serving.py) to fn_args.serving_model_dir; TensorBoard logs,
history.json (per epoch) and metrics.json (final eval and test accuracy/loss) to fn_args.model_run_dir.

The test split: TFX hands the user function only the files of the splits named in train_args/eval_args,
and naming "test" there would make it the validation data that early stopping selects on. So the test
files are found beside the train split in the same Examples artifact (`<artifact>/Split-test/*`, the
standard layout), read once, after training, for metrics.json; a missing test split is logged and skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from components import ledger
from components.classification_metrics import classification_metrics, track_metrics
from components.featurizer import SpectrogramSettings, load_featurizer
from components.json_files import write_json
from components.keras_trainer import dataset as data
from components.keras_trainer.models import build_model, fine_tune, is_pretrained, musicnn_fine_tune_model
from components.keras_trainer.serving import export_serving_model
from components.keras_trainer.settings import TrainerSettings
from components.keras_trainer.strategy import global_batch_size, make_strategy

_log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
TEST_SPLIT = "test"
_PRODUCER = "SpectrogramTransform"  # of the examples the Trainer reads


def run_fn(fn_args) -> None:
    settings = TrainerSettings.from_custom_config(fn_args.custom_config)
    trainer = settings.trainer
    tf.keras.utils.set_random_seed(trainer.seed)
    featurizer = _load_featurizer(fn_args.transform_graph_path, settings.featurizer)
    strategy, plan = make_strategy()
    inputs = prepare_inputs(fn_args, trainer, featurizer.settings, strategy.num_replicas_in_sync, plan.drop_remainder)
    with strategy.scope():
        built = build_model(settings, featurizer.settings)
        compile_model(built.model, trainer.learning_rate)

    started = time.monotonic()
    recorder = HistoryRecorder(fn_args.model_run_dir)
    fit = make_fit(
        built.model, inputs, fn_args.eval_steps, fn_args.model_run_dir, recorder, trainer.early_stopping_patience
    )
    mobilenet = trainer.model_family == "mobilenetv2_transfer"
    musicnn = trainer.model_family == "musicnn_transfer"
    stopper = fit("head" if (mobilenet and is_pretrained(built.notes)) or musicnn else "train", 0, trainer.epochs)
    best_loss, best_epoch = stopper.best, stopper.best_epoch
    fine_tunes = mobilenet and trainer.mobilenet.fine_tune_epochs > 0 and is_pretrained(built.notes)
    served, served_inputs = built.model, inputs
    if fine_tunes:
        best_loss, best_epoch = fine_tune_phase(
            built.model, strategy, trainer.mobilenet, fit, recorder, best_loss, best_epoch
        )
    elif mobilenet and trainer.mobilenet.fine_tune_epochs > 0:
        _log.info("Trainer: no fine-tuning phase: with random weights the whole MobileNetV2 trained from the start")
    elif musicnn and trainer.musicnn.fine_tune_epochs > 0:
        fine_tunes = True
        served, served_inputs, best_loss, best_epoch = fine_tune_musicnn(
            built.model,
            featurizer.settings,
            strategy,
            plan.drop_remainder,
            trainer,
            inputs,
            fn_args,
            recorder,
            best_loss,
            best_epoch,
        )
        built.notes["musicnn_fine_tuned"] = served is not built.model
    fine_tune_epochs = trainer.musicnn.fine_tune_epochs if musicnn else trainer.mobilenet.fine_tune_epochs
    planned_epochs = trainer.epochs + (fine_tune_epochs if fine_tunes else 0)

    metrics = final_metrics(served, served_inputs, fn_args.train_files, settings.genres)
    metrics["examples"] = dict(inputs.counted)
    metrics["ledger"] = check_scored(inputs, metrics)
    metrics["model_family"] = trainer.model_family
    metrics["training"] = {
        "epochs_run": len(recorder.epochs),
        "best_epoch": best_epoch + 1,
        "best_eval_loss": float(best_loss),
        "stopped_early": len(recorder.epochs) < planned_epochs,
        "seconds": round(time.monotonic() - started, 1),
        "strategy": plan.kind,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch_size": inputs.batch,
        "steps_per_epoch": inputs.steps_per_epoch,
        "train_examples": inputs.counted["train"],
        "cached": inputs.cached,
        **built.notes,
    }
    export_serving_model(
        served,
        featurizer,
        settings.genres,
        trainer.model_family,
        fn_args.serving_model_dir,
        reads_waveform=served is not built.model,
    )
    write_json(os.path.join(fn_args.model_run_dir, METRICS_FILE), metrics)
    _log.info(
        "Trainer: eval accuracy %.4f; serving model in %s; metrics in %s",
        metrics["eval"]["accuracy"],
        fn_args.serving_model_dir,
        os.path.join(fn_args.model_run_dir, METRICS_FILE),
    )


def _load_featurizer(path: Optional[str], expected: SpectrogramSettings):
    if not path:
        raise ValueError(
            "the Trainer needs transform_graph=SpectrogramTransform.outputs['featurizer'] (the "
            "featurizer is part of the served model)"
        )
    featurizer = load_featurizer(path)
    if featurizer.settings != expected:
        _log.warning(
            "Trainer: the featurizer was exported with other settings than the config gives; the "
            "featurizer's are used (they made the examples): %s vs config %s",
            featurizer.settings,
            expected,
        )
    return featurizer


@dataclasses.dataclass
class Inputs:
    spec: data.InputSpec
    batch: int  # global
    train_files: list
    eval_files: list
    train: object  # tf.data.Dataset
    eval: object
    counted: dict  # {split: examples in its files, counted exactly}
    examples_uri: str  # the transformed Examples artifact, whose summary.json records what was written
    cached: dict
    steps_per_epoch: Optional[int]


def prepare_inputs(fn_args, trainer, settings: SpectrogramSettings, replicas: int, drop_remainder: bool) -> Inputs:
    spec = data.input_spec(trainer.model_family, settings)
    batch = global_batch_size(trainer.batch_size, replicas)
    train_files, eval_files = data.list_files(fn_args.train_files), data.list_files(fn_args.eval_files)
    data.check_examples(train_files, spec, trainer.model_family)
    examples_uri = ledger.artifact_root(fn_args.train_files[0])
    counted = count_and_check(examples_uri, fn_args.train_files, train_files, eval_files, fn_args.model_run_dir)
    steps_per_epoch = resolve_steps_per_epoch(trainer.steps_per_epoch, fn_args.train_steps, trainer.epochs)
    files = Inputs(spec, batch, train_files, eval_files, None, None, counted, examples_uri, {}, steps_per_epoch)
    inputs = reading(files, spec, trainer, drop_remainder)
    _log.info(
        "Trainer: %s on %d train / %d eval examples (%d + %d files); global batch %d (%d per replica x %d); "
        "cache train %s, eval %s (budget %.0f MB); steps per epoch %s",
        trainer.model_family,
        counted["train"],
        counted["eval"],
        len(train_files),
        len(eval_files),
        batch,
        trainer.batch_size,
        replicas,
        inputs.cached["train"],
        inputs.cached["eval"],
        trainer.cache_megabytes,
        steps_per_epoch or "one pass",
    )
    return inputs


def reading(inputs: Inputs, spec: data.InputSpec, trainer, drop_remainder: bool) -> Inputs:
    """`inputs` with train and eval datasets of `spec`'s feature (same files, batch and steps), each cached
    when its parsed form fits trainer.cache_megabytes (eval only when train is cached too)."""
    counted = inputs.counted
    cache_train = data.should_cache(counted["train"], spec, trainer.cache_megabytes)
    cache_eval = cache_train and data.should_cache(counted["train"] + counted["eval"], spec, trainer.cache_megabytes)
    train = data.make_dataset(
        inputs.train_files,
        spec,
        inputs.batch,
        training=True,
        seed=trainer.seed,
        shuffle_buffer=trainer.shuffle_buffer,
        cache=cache_train,
        drop_remainder=drop_remainder,
        repeat=inputs.steps_per_epoch is not None,
        files=inputs.train_files,
    )
    evaluation = data.make_dataset(
        inputs.eval_files,
        spec,
        inputs.batch,
        training=False,
        cache=cache_eval,
        drop_remainder=drop_remainder,
        files=inputs.eval_files,
    )
    cached = {"train": cache_train, "eval": cache_eval}
    return dataclasses.replace(inputs, spec=spec, train=train, eval=evaluation, cached=cached)


def count_and_check(examples_uri: str, train_patterns, train_files: list, eval_files: list, output: str = "") -> dict:
    """Counts every split's examples exactly, before any training, and checks them against what
    SpectrogramTransform recorded writing; {split: count}."""
    files = {"train": train_files, "eval": eval_files}
    test_pattern, _ = test_split_pattern(train_patterns)
    if test_pattern:
        files[TEST_SPLIT] = data.list_files([test_pattern])
    counted = {split: ledger.count_records(paths) for split, paths in files.items()}
    ledger.check(
        ledger.against_record(
            "Trainer", examples_uri, _PRODUCER, {split: ("read", n) for split, n in counted.items()}, output
        )
    )
    return counted


def check_scored(inputs: Inputs, metrics: dict) -> list[dict]:
    """What the model was trained on and scored on, against upstream's record; the ledger rows."""
    counts = {"train": ("trained on", inputs.counted["train"])}
    counts.update(
        {split: ("scored", metrics[split]["examples"]) for split in ("eval", TEST_SPLIT) if metrics.get(split)}
    )
    return ledger.check(ledger.against_record("Trainer", inputs.examples_uri, _PRODUCER, counts))


def final_metrics(model, inputs: Inputs, train_patterns, genres) -> dict:
    """Eval and (when the artifact has one) test metrics of the final model."""
    metrics = {"genres": list(genres), "eval": evaluate(model, inputs.eval_files, inputs.spec, inputs.batch, genres)}
    test_pattern, reason = test_split_pattern(train_patterns)
    if not test_pattern:
        _log.info("Trainer: no test metrics: %s", reason)
        return {**metrics, "test": None, "test_skipped": reason}
    test = evaluate(model, data.list_files([test_pattern]), inputs.spec, inputs.batch, genres)
    _log.info(
        "Trainer: test accuracy %.4f (loss %.4f) on %d examples; track accuracy %.4f on %d tracks",
        test["accuracy"],
        test["loss"],
        test["examples"],
        test["track_accuracy"],
        test["tracks"],
    )
    return {**metrics, "test": test}


def resolve_steps_per_epoch(configured: Optional[int], train_steps: Optional[int], epochs: int) -> Optional[int]:
    """config.trainer.steps_per_epoch wins; else train_args.num_steps (TFX's total step count) spread over
    the configured epochs; else None: each epoch is one pass over the train split."""
    if configured:
        return configured
    if train_steps:
        return max(1, math.ceil(train_steps / epochs))
    return None


def test_split_pattern(train_patterns) -> tuple[Optional[str], str]:
    """(`<artifact>/Split-test/*`, "") beside the train split's files, or (None, why not)."""
    split_dir = os.path.dirname(train_patterns[0])
    if not os.path.basename(split_dir).startswith("Split-"):
        return None, f"the train files ({train_patterns[0]}) are not in the standard Split-<name> layout"
    test_dir = os.path.join(os.path.dirname(split_dir), f"Split-{TEST_SPLIT}")
    if not tf.io.gfile.isdir(test_dir) or not tf.io.gfile.listdir(test_dir):
        return None, f"the Examples artifact has no {TEST_SPLIT} split ({test_dir})"
    return os.path.join(test_dir, "*"), ""


def compile_model(model: tf.keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )


def make_fit(model, inputs: Inputs, validation_steps, run_dir, recorder, patience):
    """fit(phase, first_epoch, last_epoch) -> the phase's EarlyStopping (best eval loss, best epoch)."""
    tensorboard = tf.keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch")

    def fit(phase: str, first_epoch: int, last_epoch: int):
        stopper = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        recorder.phase, recorder.last_epoch = phase, last_epoch
        model.fit(
            inputs.train,
            validation_data=inputs.eval,
            epochs=last_epoch,
            initial_epoch=first_epoch,
            steps_per_epoch=inputs.steps_per_epoch,
            validation_steps=validation_steps,
            callbacks=[stopper, tensorboard, recorder],
            verbose=0,
        )
        _log.info(
            "Trainer: %s phase ended after epoch %d; best eval loss %.4f at epoch %d (weights restored)",
            phase,
            len(recorder.epochs),
            stopper.best,
            stopper.best_epoch + 1,
        )
        return stopper

    return fit


def fine_tune_phase(model, strategy, options, fit, recorder, head_loss: float, head_epoch: int):
    """Unfreeze the top of the base and train on; keep the head-only weights if that does not help."""
    # By name, not position: changing trainable flags reorders model.weights. (Not a tf.train.Checkpoint:
    # it would also hold the optimizer, which compile() replaces.)
    head_weights = {w.name: w.numpy() for w in model.weights}
    if len(head_weights) != len(model.weights):
        raise RuntimeError("the model has several weights of the same name; cannot keep the head-only weights")
    with strategy.scope():
        unfrozen = fine_tune(model, options.fine_tune_layers)
        compile_model(model, options.fine_tune_learning_rate)
    _log.info(
        "Trainer: fine-tuning the last %d layers of MobileNetV2 (%d with weights) at learning rate %g",
        options.fine_tune_layers,
        unfrozen,
        options.fine_tune_learning_rate,
    )
    done = len(recorder.epochs)
    stopper = fit("fine_tune", done, done + options.fine_tune_epochs)
    if stopper.best < head_loss:
        return stopper.best, stopper.best_epoch
    for weight in model.weights:
        weight.assign(head_weights[weight.name])
    _log.info(
        "Trainer: fine-tuning did not lower the eval loss (%.4f >= %.4f); keeping the head-only weights",
        stopper.best,
        head_loss,
    )
    return head_loss, head_epoch


def fine_tune_musicnn(
    head, settings, strategy, drop_remainder, trainer, inputs: Inputs, fn_args, recorder, head_loss, head_epoch
):
    """Unfreeze the top mid-end blocks of musicnn and train them with the head on the waveform (the
    network runs every step, so this reads the examples' audio, not their stored embeddings). Returns
    (the model to serve, its Inputs, best eval loss, best epoch): the fine-tuned waveform model when it
    lowered the eval loss, else the head alone with its head-phase weights."""
    options = trainer.musicnn
    # The waveform (cnn1d_raw's input): what the whole network reads.
    waveform = reading(inputs, data.input_spec("cnn1d_raw", settings), trainer, drop_remainder)
    head_weights = [w.numpy() for w in head.weights]
    with strategy.scope():
        model = musicnn_fine_tune_model(head, settings, options.fine_tune_layers)
        compile_model(model, options.fine_tune_learning_rate)
    _log.info(
        "Trainer: fine-tuning the last %d mid-end block(s) of %s with the head, on the waveform, at learning rate %g",
        options.fine_tune_layers,
        settings.musicnn.model,
        options.fine_tune_learning_rate,
    )
    patience = trainer.early_stopping_patience
    fit = make_fit(model, waveform, fn_args.eval_steps, fn_args.model_run_dir, recorder, patience)
    done = len(recorder.epochs)
    stopper = fit("fine_tune", done, done + options.fine_tune_epochs)
    if stopper.best < head_loss:
        return model, waveform, stopper.best, stopper.best_epoch
    for weight, value in zip(head.weights, head_weights):
        weight.assign(value)
    _log.info(
        "Trainer: fine-tuning did not lower the eval loss (%.4f >= %.4f); serving the head on the frozen network",
        stopper.best,
        head_loss,
    )
    return head, inputs, head_loss, head_epoch


class HistoryRecorder(tf.keras.callbacks.Callback):
    """Logs every epoch and rewrites history.json after it (a crashed run keeps its history)."""

    def __init__(self, run_dir: str):
        super().__init__()
        self.path = os.path.join(run_dir, HISTORY_FILE)
        self.epochs: list[dict] = []
        self.phase = "train"
        self.last_epoch = 0  # of the current phase (1-based), for the ETA
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        entry = {
            "epoch": epoch + 1,
            "phase": self.phase,
            "seconds": round(time.monotonic() - self._started, 2),
            "learning_rate": float(tf.keras.backend.get_value(self.model.optimizer.learning_rate)),
        }
        entry.update({k: float(v) for k, v in (logs or {}).items()})
        self.epochs.append(entry)
        phase_seconds = [e["seconds"] for e in self.epochs if e["phase"] == self.phase]
        remaining = max(0, self.last_epoch - (epoch + 1))
        _log.info(
            "Trainer epoch %d/%d (%s): loss %.4f accuracy %.4f | eval loss %.4f accuracy %.4f | %.1f s, "
            "ETA %.0f s for the phase (early stopping may end it sooner)",
            epoch + 1,
            self.last_epoch,
            self.phase,
            entry.get("loss", float("nan")),
            entry.get("accuracy", float("nan")),
            entry.get("val_loss", float("nan")),
            entry.get("val_accuracy", float("nan")),
            entry["seconds"],
            remaining * sum(phase_seconds) / len(phase_seconds),
        )
        write_json(self.path, {"epochs": self.epochs})


def evaluate(model: tf.keras.Model, files, spec: data.InputSpec, batch: int, genres) -> dict:
    """Loss, accuracy, macro-F1 (over the genres present), per-genre precision/recall/F1 and the confusion
    matrix (rows: true genre, columns: predicted) per example; accuracy, macro-F1 and the confusion matrix per
    track (segment probabilities averaged, as track_prediction does); over one pass of the files. The metrics
    are components/classification_metrics.py's, as the baselines'."""
    dataset = data.make_dataset(files, spec, batch, training=False, files=files, with_track_ids=True)
    probabilities, labels, tracks = [], [], []
    for inputs, label, track in dataset:
        probabilities.append(model.predict_on_batch(inputs))
        labels.append(label.numpy())
        tracks.append(track.numpy())
    probabilities = np.concatenate(probabilities)
    labels, tracks = np.concatenate(labels), np.concatenate(tracks)
    loss = float(np.mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy()))
    segment = classification_metrics(labels, probabilities.argmax(axis=1), genres)
    track = track_metrics(tracks, labels, probabilities, genres)
    return {
        "examples": segment["examples"],
        "loss": loss,
        "accuracy": segment["accuracy"],
        "macro_f1": segment["macro_f1"],
        "per_genre": segment["per_genre"],
        "tracks": track["examples"],
        "track_accuracy": track["accuracy"],
        "track_macro_f1": track["macro_f1"],
        "confusion_matrix": segment["confusion_matrix"]["matrix"],
        "track_confusion_matrix": track["confusion_matrix"]["matrix"],
    }
