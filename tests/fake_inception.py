"""Test fakes: tiny fake Inception weights in every supported format, and their reference maths.

The fakes have the real files' tensor names, input and output shapes, so every loader in
`compare_gan/metrics/inception/weights.py` runs on them offline; their features depend on the
image content (FID between different image sets is > 0, between identical sets 0). Each file is
about 0.5 MB and is written in well under a second (the SavedModel in about one).

The fake network, on x float32 [N, 299, 299, 3] in [-1, 1]:
  z = average pool 80x80, stride 73 (a 4x4 grid covering the image) -> [N, 48]
  pool_3 = relu(z @ W1 + b1)                      [N, 2048]   (>= 0, like the real pool_3)
  logits = pool_3 @ (A @ B) + bias                [N, 1008]   (a rank-8 "softmax/weights")
`fake_inception_reference` recomputes it, and the whole preprocessing, in numpy.

Tests import it as a top-level module (tests/ is on sys.path through tests/conftest.py):

  import fake_inception
  path = fake_inception.write_fake_inception_graph(tmp_path / "fake.pb", "frozen_pb")
  extractor = inception_weights.load_inception(str(path))
"""

import os
import tarfile
import tempfile
from typing import Dict, Union

import numpy as np
import tensorflow as tf

from compare_gan.metrics.inception import extractor as inception_extractor
from compare_gan.metrics.inception import weights as inception_weights

FAKE_KINDS = ("frozen_pb", "tarball", "classify_image", "hub_dir")
FAKE_SEED = 20151205
_GRID, _KERNEL, _STRIDE = 4, 80, 73  # 3 * 73 + 80 = 299: the pools tile the whole image.
_RANK = 8

PathLike = Union[str, os.PathLike]


def fake_inception_params(seed: int = FAKE_SEED) -> Dict[str, np.ndarray]:
  """The fake network's float32 parameters: w1 [48, 2048], b1 [2048], a [2048, 8], b [8, 1008],
  bias [1008]."""
  rng = np.random.default_rng(seed)
  inputs = _GRID * _GRID * 3
  return {
      "w1": (rng.standard_normal((inputs, inception_extractor.POOL_3_DIM)) /
             np.sqrt(inputs)).astype(np.float32),
      "b1": (0.1 * rng.standard_normal(inception_extractor.POOL_3_DIM)).astype(np.float32),
      "a": (rng.standard_normal((inception_extractor.POOL_3_DIM, _RANK)) /
            np.sqrt(inception_extractor.POOL_3_DIM)).astype(np.float32),
      "b": rng.standard_normal((_RANK, inception_extractor.LOGITS_DIM)).astype(np.float32),
      "bias": (0.1 * rng.standard_normal(inception_extractor.LOGITS_DIM)).astype(np.float32),
  }


def tf1_resize_bilinear_np(images: np.ndarray,
                           size: int = inception_extractor.INPUT_SIZE) -> np.ndarray:
  """TF1 bilinear resize (align_corners=False, half_pixel_centers=False) in numpy, float64.

  Args:
    images: [N, H, W, C].
    size: output height and width.

  Returns:
    float64 [N, size, size, C]: output pixel i samples the input at i * H / size (no half-pixel
    offset), interpolating between floor and floor + 1 (clamped at the border).
  """
  x = np.asarray(images, np.float64)

  def weights(in_size):
    position = np.arange(size) * (in_size / size)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    return low, high, position - low

  y0, y1, wy = weights(x.shape[1])
  x0, x1, wx = weights(x.shape[2])
  top = x[:, y0] * (1 - wy)[None, :, None, None] + x[:, y1] * wy[None, :, None, None]
  return top[:, :, x0] * (1 - wx)[None, None, :, None] + top[:, :, x1] * wx[None, None, :, None]


def fake_network_np(x: np.ndarray, seed: int = FAKE_SEED) -> Dict[str, np.ndarray]:
  """The fake network in numpy (float64): x [N, 299, 299, 3] in [-1, 1] -> pool_3, logits."""
  p = {k: v.astype(np.float64) for k, v in fake_inception_params(seed).items()}
  x = np.asarray(x, np.float64)
  cells = [x[:, i * _STRIDE:i * _STRIDE + _KERNEL, j * _STRIDE:j * _STRIDE + _KERNEL].mean((1, 2))
           for i in range(_GRID) for j in range(_GRID)]
  z = np.stack(cells, axis=1).reshape(x.shape[0], -1)  # [N, 16 cells, 3] in (row, col, ch) order.
  pool_3 = np.maximum(z @ p["w1"] + p["b1"], 0.0)
  return {"pool_3": pool_3, "logits": pool_3 @ (p["a"] @ p["b"]) + p["bias"]}


def fake_inception_reference(images: np.ndarray, quantize: bool = False,
                             seed: int = FAKE_SEED) -> Dict[str, np.ndarray]:
  """The whole pipeline on the fake network, in numpy: images [N, H, W, 1|3] in [0, 1] ->
  {"pool_3": [N, 2048], "logits": [N, 1008]} (float64)."""
  x = np.clip(np.asarray(images, np.float64), 0, 1) * 255
  if quantize:
    x = np.floor(x + 0.5)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1)
  return fake_network_np((tf1_resize_bilinear_np(x) - 128) / 128, seed)


def _fake_body(x: tf.Tensor, p: Dict[str, tf.Tensor]) -> tf.Tensor:
  """[N, 299, 299, 3] -> pool_3 [N, 2048], batch-agnostic like the real network body."""
  z = tf.nn.avg_pool2d(x, _KERNEL, _STRIDE, "VALID")
  z = tf.reshape(z, [-1, _GRID * _GRID * 3])
  return tf.nn.relu(tf.matmul(z, p["w1"]) + p["b1"])


def _frozen_graph_def(seed: int) -> tf.compat.v1.GraphDef:
  """TF-GAN's frozen graph: `Mul` [None, 299, 299, 3] -> `pool_3` [N,1,1,2048], `logits`."""
  graph = tf.Graph()
  with graph.as_default():
    p = {k: tf.constant(v, name=f"fake/{k}") for k, v in fake_inception_params(seed).items()}
    x = tf.compat.v1.placeholder(tf.float32, [None, 299, 299, 3], name="Mul")
    flat = _fake_body(x, p)
    pool_3 = tf.reshape(flat, [-1, 1, 1, inception_extractor.POOL_3_DIM], name="pool_3")
    weights = tf.matmul(p["a"], p["b"], name="softmax/weights")
    tf.nn.bias_add(tf.matmul(tf.reshape(pool_3, [-1, inception_extractor.POOL_3_DIM]), weights),
                   p["bias"], name="logits")
  return graph.as_graph_def()


def _classify_image_graph_def(seed: int) -> tf.compat.v1.GraphDef:
  """TTUR's classify_image graph: one JPEG -> ExpandDims (batch 1) -> ResizeBilinear -> Sub 128 ->
  Mul 1/128 -> body -> pool_3 [1,1,1,2048] -> pool_3/_reshape [1, 2048] (hard-coded) ->
  softmax/logits (MatMul + bias) -> softmax."""
  graph = tf.Graph()
  with graph.as_default():
    p = {k: tf.constant(v, name=f"fake/{k}") for k, v in fake_inception_params(seed).items()}
    contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
    decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
    x = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
    size = tf.constant([299, 299], name="ResizeBilinear/size")
    x = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False,
                                  half_pixel_centers=False, name="ResizeBilinear")
    x = tf.multiply(tf.subtract(x, tf.constant(128.0, name="Sub/y"), name="Sub"),
                    tf.constant(1 / 128, name="Mul/y"), name="Mul")
    features = tf.reshape(_fake_body(x, p), [-1, 1, 1, inception_extractor.POOL_3_DIM])
    pool_3 = tf.nn.avg_pool2d(features, 1, 1, "VALID", name="pool_3")  # An AvgPool, as in the real.
    shape = tf.constant([1, inception_extractor.POOL_3_DIM], name="pool_3/_reshape/shape")
    flat = tf.reshape(pool_3, shape, name="pool_3/_reshape")
    weights = tf.matmul(p["a"], p["b"], name="softmax/weights")
    biases = tf.identity(p["bias"], name="softmax/biases")
    logits = tf.nn.bias_add(tf.matmul(flat, weights, name="softmax/logits/MatMul"), biases,
                            name="softmax/logits")
    tf.nn.softmax(logits, name="softmax")
  return graph.as_graph_def()


class _FakeHubModule(tf.Module):
  """TF-Hub tfgan/eval/inception/1 lookalike: a callable root, [-1, 1] images -> dict."""

  def __init__(self, seed: int):
    super().__init__()
    self.params = {k: tf.Variable(v, trainable=False, name=k)
                   for k, v in fake_inception_params(seed).items()}

  @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
  def __call__(self, images):
    p = self.params
    pool_3 = _fake_body(images, p)
    logits = tf.matmul(pool_3, tf.matmul(p["a"], p["b"])) + p["bias"]
    return {"pool_3": pool_3, "logits": logits}


def write_fake_inception_graph(path: PathLike, kind: str, seed: int = FAKE_SEED) -> str:
  """Writes tiny fake Inception weights in the format `kind` and returns their path.

  Args:
    path: file to write (a directory for "hub_dir"). An existing directory gets the real file
      name inside it (`inceptionv1_for_inception_score.pb`, `frozen_inception_v1_2015_12_05.tar.gz`,
      `classify_image_graph_def.pb`, `tfgan_eval_inception_1/`).
    kind: "frozen_pb" | "tarball" | "classify_image" | "hub_dir".
    seed: the fake parameters' seed (different seeds give different features).

  Returns:
    The path written, as a string.
  """
  names = {"frozen_pb": inception_weights.FROZEN_PB_NAME,
           "tarball": inception_weights.TARBALL_NAME,
           "classify_image": inception_weights.CLASSIFY_IMAGE_PB_NAME,
           "hub_dir": inception_weights.HUB_DIR_NAME}
  if kind not in names:
    raise ValueError(f"kind={kind!r}; valid: {', '.join(map(repr, FAKE_KINDS))}.")
  path = os.fspath(path)
  if os.path.isdir(path) and not (kind == "hub_dir" and not os.listdir(path)):
    path = os.path.join(path, names[kind])
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if kind == "frozen_pb":
    _write_bytes(path, _frozen_graph_def(seed).SerializeToString(deterministic=True))
  elif kind == "classify_image":
    _write_bytes(path, _classify_image_graph_def(seed).SerializeToString(deterministic=True))
  elif kind == "tarball":
    data = _frozen_graph_def(seed).SerializeToString(deterministic=True)
    with tempfile.TemporaryDirectory() as scratch:
      member = os.path.join(scratch, inception_weights.FROZEN_PB_NAME)
      _write_bytes(member, data)
      with tarfile.open(path, "w:gz") as tar:
        tar.add(member, arcname=inception_weights.FROZEN_PB_NAME)
  else:
    tf.saved_model.save(_FakeHubModule(seed), path)
  return path


def _write_bytes(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)
