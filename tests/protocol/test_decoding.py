"""Payload decoding, without a server."""

import numpy as np
import pytest

from modelserve.bundles import Bundle
from modelserve.errors import InvalidInput, PayloadTooLarge
from modelserve.protocol import v1, v2
from modelserve.settings import demo_bundle_path

META = Bundle.open(demo_bundle_path()).metadata
ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


def test_v1_formats_decode_to_the_same_batch():
    names = META.feature_names
    rows, fmt = v1.decode_predict(b'{"instances": [[6,148,72,35,0,33.6,0.627,50]]}', META, 10)
    assert fmt == "rows" and rows.dtype == np.float32 and rows.shape == (1, 8)
    for body in (
        '{"inputs": [[6,148,72,35,0,33.6,0.627,50]]}',
        '{"inputs": {"features": [[6,148,72,35,0,33.6,0.627,50]]}}',
        '{"instances": [{"features": [6,148,72,35,0,33.6,0.627,50]}]}',
        '{"inputs": {' + ", ".join(f'"{n}": [{v}]' for n, v in zip(names, ROW, strict=True)) + "}}",
    ):
        batch, _ = v1.decode_predict(body.encode(), META, 10)
        np.testing.assert_array_equal(batch, rows)


def test_v1_limits_and_errors():
    with pytest.raises(PayloadTooLarge, match="3 rows exceed the limit of 2"):
        v1.decode_predict(b'{"instances": [[1],[1],[1]]}', META, 2)
    with pytest.raises(InvalidInput, match="feature columns differ in length"):
        v1.decode_predict(
            (
                '{"inputs": {'
                + ", ".join(f'"{n}": [1]' for n in META.feature_names[:-1])
                + f', "{META.feature_names[-1]}": [1, 2]'
                + "}}"
            ).encode(),
            META,
            10,
        )


def test_v2_binary_tensor_round_trip():
    batch = np.asarray([ROW, ROW], dtype=np.float64)
    header = (
        b'{"inputs":[{"name":"features","shape":[2,8],"datatype":"FP64",'
        b'"parameters":{"binary_data_size":128}}],"parameters":{"binary_data_output":true}}'
    )
    decoded = v2.decode_infer(header + batch.tobytes(), str(len(header)), META, 10)
    np.testing.assert_array_equal(decoded.batch, batch.astype(np.float32))
    assert decoded.binary_outputs == {"probability", "class"}
    body, length = v2.encode_infer(decoded, np.asarray([[0.25], [0.75]], np.float32), META, 1)
    probabilities = np.frombuffer(body[length : length + 8], dtype="<f4")
    classes = np.frombuffer(body[length + 8 :], dtype="<i8")
    assert probabilities.tolist() == [0.25, 0.75] and classes.tolist() == [0, 1]


def test_v2_binary_nan_is_refused():
    header = (
        b'{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32",'
        b'"parameters":{"binary_data_size":32}}]}'
    )
    data = np.asarray([ROW[:7] + [np.nan]], dtype=np.float32).tobytes()
    with pytest.raises(
        InvalidInput, match=r"inputs\[0\]\.data\[0\]\[7\]: Input should be a finite number"
    ):
        v2.decode_infer(header + data, str(len(header)), META, 10)
