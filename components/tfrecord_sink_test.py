"""TFRecord files from our sink are read back, CRCs checked, by TensorFlow's own reader."""

import os

import apache_beam as beam
import pytest
import tensorflow as tf

from components import tfrecord_sink


@pytest.mark.parametrize("engine,level", [("isal", 0), ("isal", 1), ("isal", 3), ("zlib", 0), ("zlib", 1), ("zlib", 9)])
def test_tensorflow_reads_what_the_sink_writes(tmp_path, engine, level):
    records = [b"", b"x", os.urandom(70_000), bytes(range(256)) * 1000]
    with beam.Pipeline() as p:
        _ = (
            p
            | beam.Create(records)
            | beam.io.Write(tfrecord_sink.GzipTFRecordSink(str(tmp_path / "data"), 2, engine, level))
        )
    files = sorted(str(f) for f in tmp_path.glob("data-*-of-00002.gz"))
    assert len(files) == 2
    read = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    assert sorted(read) == sorted(records)


def test_isal_compresses_repetitive_data(tmp_path):
    with beam.Pipeline() as p:
        _ = (
            p
            | beam.Create([bytes(1_000_000)])
            | beam.io.Write(tfrecord_sink.GzipTFRecordSink(str(tmp_path / "data"), 1, "isal", 1))
        )
    (path,) = tmp_path.glob("data-*.gz")
    assert path.stat().st_size < 20_000


def test_masked_crc_matches_the_tfrecord_reference_value():
    # CRC-32C("123456789") = 0xE3069283 (RFC 3720 check value), masked as TFRecord does.
    crc = 0xE3069283
    assert tfrecord_sink.masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_a_corrupted_record_is_rejected_by_tensorflow(tmp_path):
    path = tmp_path / "one.tfrecord"
    framed = bytearray(tfrecord_sink.frame_record(b"hello world"))
    framed[14] ^= 0xFF  # flip a data byte: the data CRC no longer matches
    path.write_bytes(bytes(framed))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset([str(path)]).as_numpy_iterator())
