"""The Beam runner's write/flush race (components/beam_data_plane.py): on the stream itself, and through
the DirectRunner in multi-processing mode with the timing of a loaded machine injected into the runner."""

import json
import os
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.worker import data_plane

from components import beam_data_plane
from components.tfrecord_sink import frame_record


def test_a_write_during_a_periodic_flush_is_sent_not_wiped():
    """The periodic flusher is paused between taking the buffer and clearing it (as a descheduled thread
    is), and a chunk is written meanwhile: it must reach the receiver. Unpatched Beam clears it unsent."""
    assert beam_data_plane.install() and beam_data_plane.install()  # idempotent
    sent: list[bytes] = []
    inside_flush, release_flush = threading.Event(), threading.Event()

    def on_flush(data: bytes) -> None:
        sent.append(data)
        if not inside_flush.is_set():
            inside_flush.set()
            release_flush.wait(10)

    stream = data_plane.TimeBasedBufferingClosableOutputStream(
        close_callback=sent.append, flush_callback=on_flush, time_flush_threshold_ms=20
    )
    stream.write(b"first chunk|")
    assert inside_flush.wait(10), "the periodic flush never ran"
    writer = threading.Thread(target=stream.write, args=(b"second chunk|",))
    writer.start()
    writer.join(0.5)  # unpatched, the write lands in the buffer being flushed; patched, it waits for the flush
    release_flush.set()
    writer.join(10)
    stream.close()
    assert b"".join(sent) == b"first chunk|second chunk|"


def _write_split(directory: str, records: list[bytes]) -> None:
    import gzip

    os.makedirs(directory)
    for shard in range(2):
        with gzip.open(os.path.join(directory, f"data-{shard}.gz"), "wb") as f:
            for record in records[shard::2]:
                f.write(frame_record(record))


@pytest.mark.slow
def test_multiprocess_runner_delivers_every_record_under_load_timing(tmp_path, monkeypatch):
    """SpectrogramTransform's shape (read per split -> key -> Flatten -> a consuming stage), two worker
    processes, and the runner's two timings stretched as on a busy machine: the send loop sleeps after
    each ~10 MB chunk and the periodic flusher is descheduled inside its flush. Before the fix this lost
    whole chunks on every run (e.g. train 1,280 -> 324 examples); every record must arrive."""
    beam_data_plane.install()

    # The runner's send loop, as in BundleManager._send_input_to_worker, slowed down after each chunk.
    def paced_send(self, process_bundle_id, transform_id, byte_streams):
        stream = self._worker_handler.data_conn.output_stream(process_bundle_id, transform_id)
        for chunk in byte_streams or []:
            stream.write(chunk)
            time.sleep(0.3)
        stream.close()

    def widened_flush(self):
        with self._flush_lock:
            data = self.get()
            time.sleep(0.5)
            self._flush_callback(data)
            self._clear()

    monkeypatch.setattr(fn_runner.BundleManager, "_send_input_to_worker", paced_send)
    monkeypatch.setattr(data_plane.TimeBasedBufferingClosableOutputStream, "flush", widened_flush)

    expected = {"train": 240, "eval": 60}
    for split, n in expected.items():
        _write_split(str(tmp_path / split), [bytes([i % 251]) * (300 << 10) for i in range(n)])
    counts = str(tmp_path / "counts")
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with beam.Pipeline(options=options) as pipeline:
        keyed = [
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(str(tmp_path / split / "*"), coder=beam.coders.BytesCoder())
            | f"Key[{split}]" >> beam.Map(lambda record, s: (s, record), split)
            for split in expected
        ]
        _ = (
            keyed
            | beam.Flatten()
            | beam.Map(lambda kv: kv[0])
            | beam.combiners.Count.PerElement()
            | beam.Map(json.dumps)
            | beam.io.WriteToText(counts, num_shards=1, shard_name_template="")
        )
    with open(counts) as f:
        got = dict(json.loads(line) for line in f)
    assert got == expected
