"""Convolution and pooling on channels-last images.

Layout: activations are (N, H, W, C) ("NHWC") and convolution weights (kH, kW, C_in, C_out).
Channels-last is what an im2col + matrix-multiply convolution wants: the patch matrix
(N*Ho*Wo, kH*kW*C_in) times the weights (kH*kW*C_in, C_out) gives (N*Ho*Wo, C_out), which *is*
the NHWC output, so no transpose is ever copied, forward or backward. For one-channel MNIST
input, (N, 28, 28, 1) is the same memory as (N, 1, 28, 28).

The only Python loops are over the kH*kW kernel offsets (9 or 25 iterations): each moves a
whole (N, Ho, Wo, C) slab at once, never one image, pixel or channel at a time. Slow, obvious
loop versions of every layer live in :mod:`digitnet.nn.reference` for the tests.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from digitnet.nn.init import get_initializer
from digitnet.nn.kernels.rows import fold, tile
from digitnet.nn.module import Module, Shape, register
from digitnet.nn.runtime.buffers import Buffers as _Buffers
from digitnet.nn.runtime.parallel import split

# inference is done in chunks whose patch matrix stays below this many bytes
_INFERENCE_COLS_BYTES = 16 << 20
#: below this many input channels a stride-1 layer computes dx "by rows", and below this
#: many filters dW is summed in blocks of _DW_ROWS rows
_FEW_CHANNELS = 16
_DW_ROWS = 2048


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                       for v in value)):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def _padding(value: Any, kernel: tuple[int, int]) -> tuple[int, int]:
    if value == "valid":
        return 0, 0
    if value == "same":
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel size, got {kernel}")
        return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and v >= 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError(f"padding must be 'valid', 'same', an integer >= 0 or a pair, got "
                     f"{value!r}")


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * pad - kernel) // stride + 1


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int):
    """Yield ``(i, j, view)`` for each kernel offset: view = x[:, i::sh, j::sw, :] cut to
    (N, Ho, Wo, C). ``x`` is (N, H, W, C), already padded."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]


_thread = threading.local()


def _inference_buffers(layer: Module) -> _Buffers:
    """The scratch arrays of ``layer``'s inference, one set per thread, so that threads
    sharing a model never write into each other's patch matrices; they go away with the
    layer (weak references)."""
    table = getattr(_thread, "table", None)
    if table is None:
        table = _thread.table = weakref.WeakKeyDictionary()
    buf = table.get(layer)
    if buf is None:
        buf = table[layer] = _Buffers()
    return buf


@register
class Conv2D(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    Forward: x (N, H, W, C_in) -> y (N, Ho, Wo, C_out), with
    Ho = (H + 2 pad_h - kH) // stride_h + 1 and
    y[n, p, q, f] = b[f] + sum_{i, j, c} W[i, j, c, f] x_pad[n, p*sh + i, q*sw + j, c].

    Computed as one matrix product: patches (N*Ho*Wo, kH*kW*C_in) @ W (kH*kW*C_in, C_out).
    Backward: dW = patches.T @ dy, db = sum dy, and dx by scattering dy @ W.T back onto the
    padded input, one kernel offset at a time (col2im).

    Parameters
    ----------
    filters : int
        Output channels C_out.
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : 'valid', 'same', int or (int, int)
        Zero padding on each side; 'same' keeps H and W for stride 1 and odd kernels.
    init : str
        Weight initialiser (fan_in = kH*kW*C_in).
    bias : bool
    """

    decay_keys = ("W",)

    def __init__(self, filters: int, kernel_size: Any = 3, stride: Any = 1,
                 padding: Any = "valid", init: str = "he", bias: bool = True) -> None:
        super().__init__()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) \
                or filters <= 0:
            raise ValueError(f"filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = padding if isinstance(padding, str) else padding
        self.pad = _padding(padding, self.kernel_size)
        get_initializer(init)
        self.init = init
        self.bias = bool(bias)
        self._buf = _Buffers()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D expects images (N, H, W, C); got per-example shape "
                             f"{input_shape}")
        h, w, _ = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.pad
        ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
        if ho <= 0 or wo <= 0:
            raise ValueError(f"kernel {self.kernel_size} does not fit input {h}x{w} with "
                             f"padding {self.pad}")
        return ho, wo, self.filters

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        (kh, kw), c = self.kernel_size, self.input_shape[2]
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        self.params = {"W": get_initializer(self.init)((kh, kw, c, self.filters), fan_in,
                                                       fan_out, rng, dtype)}
        if self.bias:
            self.params["b"] = np.zeros(self.filters, dtype=dtype)
        self._alloc_grads()
        return out

    def _pad(self, x: np.ndarray, pad: tuple[int, int], name: str) -> np.ndarray:
        """(N, H, W, C) -> (N, H + 2ph, W + 2pw, C) in a reused buffer whose zero border is
        written once (only the interior changes between calls)."""
        ph, pw = pad
        if not ph and not pw:
            return np.ascontiguousarray(x)
        n, h, w, c = x.shape
        xp = self._buf.get(name, (n, h + 2 * ph, w + 2 * pw, c), x.dtype, zeros="new")

        def part(a, b):
            xp[a:b, ph:ph + h, pw:pw + w, :] = x[a:b]

        split(part, n, x.size)
        return xp

    @staticmethod
    def _patches(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                 ho: int, wo: int) -> np.ndarray:
        """A read-only strided view of all patches, no copy: (N, Ho, Wo, kH, kW*C).

        In a contiguous NHWC array the kW*C values of one kernel row of a patch are
        contiguous, so one view covers every patch and a single ``copyto`` turns it into the
        patch matrix (far faster than one copy per kernel offset).
        """
        (kh, kw), (sh, sw) = kernel, stride
        n, _, _, c = xp.shape
        s_n, s_h, s_w, s_c = xp.strides
        return np.lib.stride_tricks.as_strided(
            xp, shape=(n, ho, wo, kh, kw * c), strides=(s_n, sh * s_h, sw * s_w, s_h, s_c),
            writeable=False)

    def _im2col(self, xp: np.ndarray, ho: int, wo: int, alloc) -> np.ndarray:
        """Padded (N, Hp, Wp, C) -> patch matrix (N*Ho*Wo, kH*kW*C).

        Written into ``alloc(shape)`` (a reused buffer). With one input channel the rows of
        a patch are only kW values long, which NumPy copies slowly; the matrix is then built
        transposed, (kH*kW, N*Ho*Wo), one long image-sized slab per kernel offset, and
        returned as its transpose (a view BLAS reads directly).
        """
        n, c = xp.shape[0], xp.shape[3]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        m, k = n * ho * wo, kh * kw * c
        if c == 1:
            buf = alloc((k, m))
            s_n, s_h, s_w, _ = xp.strides
            slabs = np.lib.stride_tricks.as_strided(
                xp, shape=(kh, kw, n, ho, wo), strides=(s_h, s_w, s_n, sh * s_h, sw * s_w),
                writeable=False)
            dest = buf.reshape(kh, kw, n, ho, wo)
            split(lambda a, b: np.copyto(dest[:, :, a:b], slabs[:, :, a:b]), n, m * k)
            return buf.T                                     # (M, kh*kw) view
        cols = alloc((m, k))
        dest = cols.reshape(n, ho, wo, kh, kw * c)
        patches = self._patches(xp, self.kernel_size, self.stride, ho, wo)
        split(lambda a, b: np.copyto(dest[a:b], patches[a:b]), n, m * k)
        return cols

    def forward(self, x, *, training):
        """x (N, H, W, C_in) -> (N, Ho, Wo, C_out)."""
        ho, wo, f = self.output_shape
        n = x.shape[0]
        k = self.kernel_size[0] * self.kernel_size[1] * x.shape[3]
        w2 = self.params["W"].reshape(k, f)                  # (kh*kw*C, F)
        if not training:
            return self._forward_chunked(x, w2, ho, wo, k)
        self._x_shape = x.shape
        cols = self._im2col(self._pad(x, self.pad, "xpad"), ho, wo,
                            lambda shape: self._buf.get("cols", shape, x.dtype))
        self._cols = cols
        y = np.matmul(cols, w2, out=self._buf.get("y", (n * ho * wo, f), x.dtype))
        if self.bias:
            yw = y.reshape(n * ho, wo * f)                   # long rows, see nn.wide
            tb = tile(self.params["b"], wo * f)
            split(lambda a, b: np.add(yw[a:b], tb, out=yw[a:b]), n * ho, yw.size)
        return y.reshape(n, ho, wo, f)

    def _forward_chunked(self, x, w2, ho, wo, k):
        """Inference in slices of the batch, so the patch matrix stays small (and in
        scratch arrays kept per thread, :func:`_inference_buffers`: fresh 10-60 MB arrays on
        every call cost more in page faults than the convolution itself)."""
        (n, h, w, c), f, (ph, pw) = x.shape, self.filters, self.pad
        y = np.empty((n, ho, wo, f), dtype=x.dtype)
        step = min(n, max(1, _INFERENCE_COLS_BYTES // max(ho * wo * k * x.itemsize, 1)))
        buf = _inference_buffers(self)
        padded = buf.prefix("xpad", (step, h + 2 * ph, w + 2 * pw, c), x.dtype, zeros="new")
        flat = buf.prefix("cols", (step * ho * wo * k,), x.dtype)

        tb = tile(self.params["b"], wo * f) if self.bias else None

        def alloc(shape):                                   # the first prod(shape) values
            return flat[:shape[0] * shape[1]].reshape(shape)

        for s in range(0, n, step):
            xs = x[s:s + step]
            m = xs.shape[0]
            if ph or pw:
                xp = padded[:m]                              # its border stays zero
                xp[:, ph:ph + h, pw:pw + w, :] = xs
            else:
                xp = np.ascontiguousarray(xs)
            cols = self._im2col(xp, ho, wo, alloc)
            ys = y[s:s + m].reshape(m * ho * wo, f)
            np.matmul(cols, w2, out=ys)
            if self.bias:                                    # long rows, see nn.wide
                ys.reshape(m * ho, wo * f)[...] += tb
        return y

    def backward(self, dy):
        """dy (N, Ho, Wo, C_out) -> dx (N, H, W, C_in)."""
        n, ho, wo, f = dy.shape
        dy2 = dy.reshape(n * ho * wo, f)
        self._weight_grad(dy2)
        if self.bias:
            self.grads["b"][...] = fold(dy.reshape(n * ho, wo * f).sum(axis=0), f)
        if not self.needs_input_grad:
            return None
        form = self._input_grad_form()
        if form == "as conv":
            return self._input_grad_as_conv(dy)
        if form == "banded":
            return self._input_grad_banded(dy)
        if form == "by rows":
            return self._input_grad_by_rows(dy)
        return self._input_grad_per_offset(dy2)

    def _weight_grad(self, dy2):
        """dW (kH*kW*C, F) = patches.T @ dy. With few filters (LeNet's first layer: 6) and a
        long batch axis OpenBLAS is slow on this product (1.25 ms for 100,352 rows of
        25 x 6); summed in blocks of ``_DW_ROWS`` rows that stay in cache it takes 0.55 ms.
        Wider layers gain nothing from blocks and keep the single product."""
        f = self.filters
        gw = self.grads["W"].reshape(-1, f)
        cols, m = self._cols, dy2.shape[0]
        if f >= _FEW_CHANNELS and 1 < self._x_shape[3] < _FEW_CHANNELS:
            # few input channels, more filters (LeNet's 6 -> 16): OpenBLAS is faster on
            # dW.T = dy.T @ patches than on patches.T @ dy (1.1 vs 1.9 ms, 2 threads)
            np.matmul(dy2.T, cols, out=gw.T)
            return
        if f >= _FEW_CHANNELS or m <= 2 * _DW_ROWS:
            np.matmul(cols.T, dy2, out=gw)
            return
        part = self._buf.get("dwpart", gw.shape, dy2.dtype)
        np.matmul(cols[:_DW_ROWS].T, dy2[:_DW_ROWS], out=gw)
        for s in range(_DW_ROWS, m, _DW_ROWS):
            np.matmul(cols[s:s + _DW_ROWS].T, dy2[s:s + _DW_ROWS], out=part)
            gw += part

    def _input_grad_form(self) -> str:
        """Which of the four ways to get dx this layer uses ("as conv", "banded", "by
        rows", "per offset"). With few input channels (LeNet's 6) the per-offset products
        have too few columns for BLAS and the row forms win (LeNet's 6 -> 16 5x5 layer:
        per offset 2.4 ms, by rows 2.0, banded 1.3); of those, the banded form does Wo/kW
        times the by-rows form's arithmetic, so it is used only for narrow outputs
        (Wo <= 2 kW). With 32 or more channels the per-offset or convolution forms win
        (``benchmarks/conv_dx.py`` times all four per shape)."""
        if self.stride == (1, 1) and self._x_shape[3] < _FEW_CHANNELS:
            return "banded" if self.output_shape[1] <= 2 * self.kernel_size[1] else "by rows"
        return "as conv" if self._input_grad_by_conv() else "per offset"

    def _input_grad_by_conv(self) -> bool:
        """Which of the two ways to get dx this layer uses: the conv form wins when dx is not
        much larger than dy's patches (same padding), the per-offset form otherwise (valid
        padding, big kernels). ``benchmarks/conv_dx.py`` times both per shape."""
        (kh, kw), (ph, pw) = self.kernel_size, self.pad
        _, h, w, c = self._x_shape
        ho, wo, f = self.output_shape
        return (self.stride == (1, 1) and ph < kh and pw < kw
                and h * w * f <= 1.5 * ho * wo * c)

    def _input_grad_as_conv(self, dy):
        """dx for stride 1 as one more convolution: dy padded by k-1-pad, correlated with the
        kernel rotated by 180 degrees and its channel axes swapped. One patch copy and one
        matrix product, instead of a scatter-add per kernel offset."""
        _, h, w, c = self._x_shape
        (kh, kw), (ph, pw), f = self.kernel_size, self.pad, self.filters
        n = dy.shape[0]
        dyp = self._pad(dy, (kh - 1 - ph, kw - 1 - pw), "dypad")     # (N, H+kh-1, W+kw-1, F)
        cols = self._buf.get("dcols", (n * h * w, kh * kw * f), dy.dtype)
        np.copyto(cols.reshape(n, h, w, kh, kw * f),
                  self._patches(dyp, self.kernel_size, (1, 1), h, w))
        # W (kh, kw, C, F) -> rotated, swapped (kh*kw*F, C)
        w_rot = self.params["W"][::-1, ::-1].transpose(0, 1, 3, 2).reshape(kh * kw * f, c)
        dx = cols @ w_rot                                    # (N*H*W, C)
        return dx.reshape(n, h, w, c)

    def _input_grad_by_rows(self, dy):
        """dx for stride 1 from one patch matrix of dy's *rows*, shared by all kernel rows.

        With dy padded by kW-1 columns on each side, the kW*F values under a kernel row are
        contiguous, and they are the same for every kernel row i: one product with the
        kernel (rotated, (kW*F, kH*C)) gives each row's contribution R_i, (N, Ho, Wp, C),
        which lands on dx shifted down by i rows. The patch matrix is kH times smaller than
        the convolution form's, and the product has kH*C columns instead of C, which BLAS
        handles far better than the per-offset form's kH*kW products with C columns when C
        is small (LeNet's 16 -> 6 channels)."""
        n, h, w, c = self._x_shape
        (kh, kw), (ph, pw), f = self.kernel_size, self.pad, self.filters
        ho, wo, _ = self.output_shape
        hp, wp = h + 2 * ph, w + 2 * pw                       # wp == wo + kw - 1
        dyw = self._pad(dy, (0, kw - 1), "dyrows")            # (N, Ho, Wo + 2(kW-1), F)
        s_n, s_h, s_w, s_c = dyw.strides
        rows = np.lib.stride_tricks.as_strided(dyw, shape=(n, ho, wp, kw * f),
                                               strides=(s_n, s_h, s_w, s_c), writeable=False)
        cols = self._buf.get("drows", (n * ho * wp, kw * f), dy.dtype)
        dest = cols.reshape(n, ho, wp, kw * f)
        split(lambda a, b: np.copyto(dest[a:b], rows[a:b]), n, cols.size)
        # W (kh, kw, C, F) -> (kw*F, kh*C): row (j', f) with j' = kw-1-j, column (i, c)
        w_rot = self.params["W"][:, ::-1].transpose(1, 3, 0, 2).reshape(kw * f, kh * c)
        r = np.matmul(cols, w_rot, out=self._buf.get("dr", (n * ho * wp, kh * c), dy.dtype))
        parts = self._buf.get("dparts", (kh, n, ho, wp, c), dy.dtype)
        # each kernel row's share to its own array: a transposing copy of C-value blocks
        # (one element each, see _pixel_blocks; 0.72 -> 0.35 ms for LeNet's C = 6)
        blocks = np.dtype((np.void, c * r.itemsize))
        by_row = r.reshape(n, ho * wp, kh * c).view(blocks).transpose(2, 0, 1)
        to = parts.reshape(kh, n, ho * wp * c).view(blocks)             # (kh, n, Ho*Wp)
        dxp = self._buf.get("dxrows", (n, hp, wp, c), dy.dtype)

        def part(a, b):                                      # images a:b, in parallel
            np.copyto(to[:, a:b], by_row[:, a:b])
            dxp[a:b, :ho] = parts[0, a:b]
            dxp[a:b, ho:] = 0
            for i in range(1, kh):
                dxp[a:b, i:i + ho] += parts[i, a:b]

        split(part, n, parts.size)
        return self._unpad(dxp, h, w)

    def _input_grad_banded(self, dy):
        """dx for stride 1 as one product with a banded matrix built from the kernel.

        A padded input row (Wp*C values) receives, from output row r and kernel row i,
        ``dy[r] @ B_i.T`` where B_i (Wp*C, Wo*F) holds W[i, j] at rows w'C.. and columns
        wF.. for w' = w + j: the whole-row form of the convolution along the width.
        Stacking the kernel rows gives one (N*Ho, Wo*F) @ (Wo*F, kH*Wp*C) product; each
        kernel row's block then lands on dx shifted down by i rows. Most of B is zero, so
        this does Wo/kW times the arithmetic of the by-rows form, but in a shape BLAS runs
        well (LeNet's 6 -> 16 layer: 160 x 420 instead of 80 x 30 columns), without dy's
        patch matrix or regrouping copies: 1.2-1.5 ms instead of 1.7-2.9 (two threads).
        On LeNet's shape the terms of each sum come in the same order as in the by-rows
        form and the zeros add nothing: the same dx, to the bit (tested); other shapes may
        differ from it in float32 rounding, as BLAS picks other kernels."""
        n, h, w, c = self._x_shape
        (kh, kw), (ph, pw), f = self.kernel_size, self.pad, self.filters
        ho, wo, _ = self.output_shape
        hp, wp = h + 2 * ph, w + 2 * pw
        band = self._buf.get("band", (kh, wp, c, wo, f), dy.dtype, zeros="new")
        W = self.params["W"]                                  # (kh, kw, C, F)
        for x0 in range(wo):                                  # the band's nonzero blocks
            band[:, x0:x0 + kw, :, x0, :] = W
        rows = self._buf.get("drband", (n * ho, kh * wp * c), dy.dtype)
        np.matmul(dy.reshape(n * ho, wo * f), band.reshape(kh * wp * c, wo * f).T, out=rows)
        per_row = rows.reshape(n, ho, kh, wp * c)
        dxp = self._buf.get("dxrows", (n, hp, wp, c), dy.dtype)
        dxr = dxp.reshape(n, hp, wp * c)

        def part(a, b):                                      # images a:b, in parallel
            dxr[a:b, :ho] = per_row[a:b, :, 0]
            dxr[a:b, ho:] = 0
            for i in range(1, kh):
                dxr[a:b, i:i + ho] += per_row[a:b, :, i]

        split(part, n, dxp.size)
        return self._unpad(dxp, h, w)

    def _input_grad_per_offset(self, dy2):
        """dx for any stride: for each kernel offset (i, j), dy @ W[i, j].T is the gradient
        reaching the input pixels that offset touched; add it onto those pixels (col2im, but
        with contiguous operands and a buffer 1/(kh*kw) the size of the patch matrix)."""
        n, h, w, c = self._x_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.pad
        ho, wo, f = self.output_shape
        dxp = self._buf.get("dxpad", (n, h + 2 * ph, w + 2 * pw, c), dy2.dtype)
        parts = self._buf.get("dparts", (kh * kw, n, ho, wo, c), dy2.dtype)
        W = self.params["W"]
        for o in range(kh * kw):                             # (N*Ho*Wo, F) @ (F, C)
            np.matmul(dy2, W[o // kw, o % kw].T, out=parts[o].reshape(n * ho * wo, c))

        def part(a, b):                                      # images a:b, in parallel
            dxa = dxp[a:b]
            dxa.fill(0)
            for o, (_, _, win) in enumerate(_windows(dxa, kh, kw, sh, sw, ho, wo)):
                win += parts[o, a:b]

        split(part, n, parts.size)
        return self._unpad(dxp, h, w)

    def _unpad(self, dxp, h, w):
        """The interior of a padded gradient, contiguous for the next layer."""
        ph, pw = self.pad
        if not ph and not pw:
            return dxp
        dx = np.empty((dxp.shape[0], h, w, dxp.shape[3]), dxp.dtype)

        def part(a, b):
            dx[a:b] = dxp[a:b, ph:ph + h, pw:pw + w, :]

        split(part, dx.shape[0], dx.size)
        return dx

    def describe(self):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        pad = self.padding if isinstance(self.padding, str) else f"pad {self.pad[0]}"
        stride = "" if (sh, sw) == (1, 1) else (f" stride {sh}" if sh == sw
                                                 else f" stride {sh}x{sw}")
        return f"Conv2D {self.filters} {kh}x{kw}{stride} {pad}" + ("" if self.bias else
                                                                   " (no bias)")

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.pad),
                "init": self.init, "bias": self.bias}


class _Pool2D(Module):
    """Shared shape logic of the windowed pooling layers (no padding)."""

    def __init__(self, pool_size: Any = 2, stride: Any = None) -> None:
        super().__init__()
        self.pool_size = _pair("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else _pair("stride", stride)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects images (N, H, W, C); got "
                             f"per-example shape {input_shape}")
        h, w, c = input_shape
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        ho, wo = conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)
        if ho <= 0 or wo <= 0:
            raise ValueError(f"pool {self.pool_size} does not fit input {h}x{w}")
        return ho, wo, c

    def _windows(self, x):
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        ho, wo, _ = self.output_shape
        return _windows(x, kh, kw, sh, sw, ho, wo)

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride)}

    def describe(self):
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        stride = "" if (sh, sw) == (kh, kw) else f" stride {sh}x{sw}"
        return f"{type(self).__name__} {kh}x{kw}{stride}"


@register
class MaxPool2D(_Pool2D):
    """Max over each window: (N, H, W, C) -> (N, Ho, Wo, C).

    Backward sends dy to the first maximum of each window in row-major order (PyTorch's
    rule), so ties never double a gradient.
    """

    is_max_pool = True

    def forward(self, x, *, training):
        """(N, H, W, C) -> (N, Ho, Wo, C); in training also records which offset won."""
        if self.pool_size == self.stride == (2, 2):
            return self._forward_2x2(x, training)
        y = idx = gt = None
        for o, (_, _, win) in enumerate(self._windows(x)):
            if y is None:
                y = win.copy()
                if training:
                    idx = np.zeros(y.shape, dtype=np.uint8)
                    gt = np.empty(y.shape, dtype=bool)
                continue
            if training:                       # strictly greater: the first maximum wins ties
                np.greater(win, y, out=gt)
                np.copyto(idx, o, where=gt)
            np.maximum(y, win, out=y)
        if training:
            self._idx, self._x_shape = idx, x.shape
        return y

    def _forward_2x2(self, x, training):
        """The common 2x2/stride-2 case in whole-array operations: the max of each row pair
        of a window (the left and right columns), then of the two rows. Ties go to the
        first maximum in row-major order, as in the general path (row 0 unless row 1 is
        strictly larger; within the row, column 0 unless column 1 is strictly larger).
        Images are split over threads (:mod:`digitnet.nn.runtime.parallel`).

        With few channels the left and right columns are first copied apart (each pixel's
        C values moved as one block, :func:`_columns_apart`): comparing them in place
        would run NumPy's inner loops over C values at a time (LeNet-5's 6 channels: the
        two column comparisons took 1.3 of the layer's 1.4 ms on a batch of 128)."""
        n, h, w, c = x.shape
        ho, wo = h // 2, w // 2
        apart = _few_channels(x)
        xr = x[:, :2 * ho, :2 * wo].reshape(n, ho, 2, wo, 2, c)
        y = np.empty((n, ho, wo, c), x.dtype)
        if training:
            self._col1 = np.empty((n, ho, 2, wo, c), bool)      # column 1 won, per row
            self._row1 = np.empty((n, ho, wo, c), bool)         # row 1 won
            self._x_shape = x.shape

        def part(a, b):
            if apart:                                            # (n, Ho, 2, Wo, C) each
                left, right = _columns_apart(x[a:b])
            else:
                left, right = xr[a:b, :, :, :, 0], xr[a:b, :, :, :, 1]
            if training:
                np.greater(right, left, out=self._col1[a:b])
            rows = np.maximum(left, right, out=left if apart else None)  # max in each row
            np.maximum(rows[:, :, 0], rows[:, :, 1], out=y[a:b])
            if training:
                np.greater(rows[:, :, 1], rows[:, :, 0], out=self._row1[a:b])

        split(part, n, x.size)
        return y

    def backward(self, dy):
        """dy (N, Ho, Wo, C) -> dx (N, H, W, C), non-zero only at each window's maximum."""
        if self.pool_size == self.stride == (2, 2):
            return self._backward_2x2(dy)
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        h, w, _ = self.input_shape
        ho, wo, _ = self.output_shape
        tiles = (sh, sw) == (kh, kw) and h == ho * kh and w == wo * kw
        # non-overlapping windows that tile the input write each dx element exactly once
        dx = np.empty(self._x_shape, dy.dtype) if tiles else np.zeros(self._x_shape, dy.dtype)
        hit = np.empty(dy.shape, dtype=bool)
        for o, (_, _, dw) in enumerate(self._windows(dx)):
            np.equal(self._idx, o, out=hit)
            if tiles:
                np.multiply(dy, hit, out=dw)
            else:
                dw += np.where(hit, dy, 0)     # overlapping windows add up
        return dx

    def _backward_2x2(self, dy):
        n, h, w, c = self._x_shape
        ho, wo = h // 2, w // 2
        exact = h == 2 * ho and w == 2 * wo
        dx = np.empty(self._x_shape, dy.dtype) if exact else np.zeros(self._x_shape, dy.dtype)
        dxr = dx[:, :2 * ho, :2 * wo].reshape(n, ho, 2, wo, 2, c) if exact else None

        def part(a, b):
            hit = np.empty(dy[a:b].shape, dtype=bool)
            row1, col1 = self._row1[a:b], self._col1[a:b]
            for i in (0, 1):
                row = row1 if i else ~row1
                for j in (0, 1):
                    col = col1[:, :, i] if j else ~col1[:, :, i]
                    np.logical_and(row, col, out=hit)
                    target = (dxr[a:b, :, i, :, j] if exact
                              else dx[a:b, i:2 * ho:2, j:2 * wo:2])
                    np.multiply(dy[a:b], hit, out=target)

        split(part, n, dx.size)
        return dx


def _few_channels(x: np.ndarray) -> bool:
    """Whether a 2x2 max-pool's forward pass should move the left and right columns apart
    first: few channels (NumPy's inner loops would run over C values at a time), even H and
    W, and a C-contiguous array (pixels as blocks). Measured on a batch of 128, one thread:
    C = 6, 28x28, forward 1.28 -> 0.57 ms; C = 16 or 32: no gain. (The backward pass put
    back together the same way was slower: 0.73 -> 0.93 ms.)"""
    n, h, w, c = x.shape
    return c < _POOL_APART_BELOW and h % 2 == 0 and w % 2 == 0 and x.flags.c_contiguous


_POOL_APART_BELOW = 16


def _pixel_blocks(x: np.ndarray) -> np.ndarray:
    """(n, h, w, c) C-contiguous -> (n, h, w) view whose elements are the c-value blocks of
    each pixel (a void dtype): copying them moves C values per element."""
    n, h, w, c = x.shape
    return x.reshape(n, h, w * c).view(np.dtype((np.void, c * x.itemsize)))


def _columns_apart(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, C) -> its even and odd columns, two new C-contiguous (n, H/2, 2, W/2, C)
    arrays (H and W even)."""
    n, h, w, c = x.shape
    pixels = _pixel_blocks(x)
    left, right = (np.empty((n, h, w // 2, c), x.dtype) for _ in range(2))
    np.copyto(_pixel_blocks(left), pixels[:, :, 0::2])
    np.copyto(_pixel_blocks(right), pixels[:, :, 1::2])
    return (left.reshape(n, h // 2, 2, w // 2, c), right.reshape(n, h // 2, 2, w // 2, c))


@register
class AvgPool2D(_Pool2D):
    """Mean over each window: (N, H, W, C) -> (N, Ho, Wo, C)."""

    def forward(self, x, *, training):
        y = None
        for _, _, win in self._windows(x):
            if y is None:
                y = win.astype(x.dtype, copy=True)
            else:
                y += win
        y *= x.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        if training:
            self._x_shape = x.shape
        return y

    def backward(self, dy):
        dx = np.zeros(self._x_shape, dtype=dy.dtype)
        share = dy * dy.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        for _, _, win in self._windows(dx):
            win += share
        return dx


@register
class GlobalAvgPool2D(Module):
    """Mean over all positions: (N, H, W, C) -> (N, C)."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D expects images (N, H, W, C); got "
                             f"per-example shape {input_shape}")
        return (input_shape[2],)

    def forward(self, x, *, training):
        return x.mean(axis=(1, 2))

    def backward(self, dy):
        h, w, c = self.input_shape
        share = dy * dy.dtype.type(1.0 / (h * w))               # (N, C)
        return np.broadcast_to(share[:, None, None, :], (dy.shape[0], h, w, c)).copy()
