"""Sliding window: positions, Gaussian map, TTA, OOM back-off, progress and cancel."""

from __future__ import annotations

import pytest
import torch

from interval.ai.errors import InferenceOutOfMemory
from interval.ai.sliding_window import (
    SlidingWindowStats,
    gaussian_importance_map,
    mirror_axes_combinations,
    sliding_window_inference,
    window_positions,
    window_starts,
)
from interval.core.errors import Cancelled
from tests.ai import _nets


@pytest.mark.parametrize(("size", "patch", "overlap"), [
    (160, 96, 0.5), (256, 96, 0.5), (96, 96, 0.5), (97, 96, 0.5), (300, 64, 0.25),
    (50, 96, 0.5), (200, 32, 0.0), (33, 8, 0.9),
])
def test_window_starts_cover_once_and_snap_to_end(size: int, patch: int, overlap: float) -> None:
    starts = window_starts(size, patch, overlap)
    assert starts == sorted(set(starts)), "no duplicates"
    assert starts[0] == 0
    if size > patch:
        assert starts[-1] == size - patch
        step = max(1, int(patch * (1 - overlap)))
        assert all(b - a <= step for a, b in zip(starts, starts[1:], strict=False))
        covered = torch.zeros(size, dtype=torch.bool)
        for s in starts:
            covered[s:s + patch] = True
        assert bool(covered.all())
    else:
        assert starts == [0]


def test_positions_match_monai() -> None:
    pytest.importorskip("monai")
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    for shape in [(160, 256, 256), (100, 97, 300), (96, 120, 200)]:
        interval = _get_scan_interval(shape, (96, 96, 96), 3, (0.5, 0.5, 0.5))
        ref = {tuple(s.start for s in sl) for sl in dense_patch_slices(shape, (96,) * 3, interval)}
        ours = window_positions(shape, (96, 96, 96), 0.5)
        assert len(ours) == len(set(ours)) == len(ref)
        assert set(ours) == ref


def test_gaussian_map() -> None:
    w = gaussian_importance_map((16, 24, 8))
    assert w.shape == (16, 24, 8) and w.dtype == torch.float32
    assert torch.allclose(w, w.flip(0)) and torch.allclose(w, w.flip(1))
    assert float(w.max()) == pytest.approx(float(w[7:9, 11:13, 3:5].max()))
    assert float(w.min()) > 0
    # sigma = patch / 8: one sigma from the centre along one axis the weight drops by e^-1/2
    g = gaussian_importance_map((1, 1, 80))[0, 0]  # sigma 10, centre between 39 and 40
    expect = torch.exp(torch.tensor(-(10.5**2 - 0.5**2) / (2 * 10.0**2)))
    assert float(g[50] / g[40]) == pytest.approx(float(expect), rel=1e-5)


def test_gaussian_map_equals_monai() -> None:
    pytest.importorskip("monai")
    from monai.data.utils import compute_importance_map

    ref = compute_importance_map((96, 96, 96), mode="gaussian", sigma_scale=0.125)
    assert torch.equal(gaussian_importance_map((96, 96, 96)), ref)


def test_threshold_network_gives_exact_labels() -> None:
    x = torch.rand(1, 37, 29, 41) * 100
    out = sliding_window_inference(x, _nets.ThresholdNet(50.0), (16, 16, 16), overlap=0.5,
                                   batch_size=3)
    assert out.shape == (2, 37, 29, 41)
    assert torch.equal(out.argmax(0), (x[0] > 50).long())
    # blended logits of a pointwise network equal its logits (weights sum to one)
    assert torch.allclose(out[1], x[0] - 50, atol=1e-4)


def test_small_image_is_padded_and_cropped() -> None:
    x = torch.rand(1, 5, 9, 7) * 100
    out = sliding_window_inference(x, _nets.ThresholdNet(50.0), (8, 8, 8))
    assert out.shape == (2, 5, 9, 7)
    assert torch.equal(out.argmax(0), (x[0] > 50).long())


def test_mirror_tta_averages_all_eight_flips() -> None:
    assert len(mirror_axes_combinations()) == 8
    net = _nets.SkewNet().eval()
    x = torch.randn(1, 1, 12, 12, 12)
    with torch.no_grad():
        manual = sum(torch.flip(net(torch.flip(x, d)), d) if d else net(x)
                     for d in mirror_axes_combinations()) / 8
        plain = net(x)
    stats = SlidingWindowStats()
    out = sliding_window_inference(x[0], net, (12, 12, 12), mirror_tta=True, stats=stats)
    assert torch.allclose(out, manual[0], atol=1e-5)
    assert not torch.allclose(out, plain[0], atol=1e-3), "TTA must change a skewed network"
    assert stats.network_calls == 8


def test_progress_per_batch_and_cancel() -> None:
    x = torch.rand(1, 32, 32, 32)
    calls: list[tuple[int, int]] = []
    sliding_window_inference(x, _nets.ThresholdNet(), (16, 16, 16), overlap=0.5, batch_size=4,
                             progress=lambda d, t: calls.append((d, t)), workers=1)
    assert calls == [(4, 27), (8, 27), (12, 27), (16, 27), (20, 27), (24, 27), (27, 27)]
    seen: list[int] = []
    with pytest.raises(Cancelled):
        sliding_window_inference(x, _nets.ThresholdNet(), (16, 16, 16), batch_size=4,
                                 progress=lambda d, t: seen.append(d),
                                 cancel=lambda: len(seen) >= 2, workers=1)
    assert seen == [4, 8]


def test_parallel_workers_same_result_progress_and_cancel() -> None:
    x = torch.rand(1, 40, 36, 44) * 100
    net = _nets.SkewNet().eval()
    seq = sliding_window_inference(x, net, (16, 16, 16), batch_size=2, workers=1)
    calls: list[tuple[int, int]] = []
    stats = SlidingWindowStats()
    par = sliding_window_inference(x, net, (16, 16, 16), batch_size=2, workers=2, stats=stats,
                                   progress=lambda d, t: calls.append((d, t)))
    assert torch.allclose(seq, par, atol=1e-5)
    total = len(window_positions((40, 36, 44), (16, 16, 16), 0.5))
    assert calls[-1] == (total, total) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert torch.get_num_threads() >= 1
    seen: list[int] = []
    with pytest.raises(Cancelled):
        sliding_window_inference(x, net, (16, 16, 16), batch_size=2, workers=2,
                                 progress=lambda d, t: seen.append(d),
                                 cancel=lambda: len(seen) >= 2)
    assert 2 <= len(seen) <= 3


class _OomAboveOne(torch.nn.Module):
    """Raises a CUDA-style out-of-memory error for batches of more than one window."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _nets.ThresholdNet(50.0)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        if x.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return self.inner(x)


def test_out_of_memory_halves_the_batch() -> None:
    x = torch.rand(1, 24, 24, 24) * 100
    net = _OomAboveOne()
    stats = SlidingWindowStats()
    out = sliding_window_inference(x, net, (16, 16, 16), batch_size=4, stats=stats,
                                   optimize=False,  # keep `net` itself (not a copy) in use
                                   workers=1)  # device (CUDA) runs are sequential
    assert torch.equal(out.argmax(0), (x[0] > 50).long())
    assert net.sizes[:3] == [4, 2, 1] and set(net.sizes[3:]) == {1}
    assert any("1 window(s) at a time" in w for w in stats.warnings)


def test_out_of_memory_at_batch_one_gives_up_clearly() -> None:
    def always_oom(x: torch.Tensor) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(InferenceOutOfMemory, match="does not fit"):
        sliding_window_inference(torch.rand(1, 16, 16, 16), always_oom, (16, 16, 16),
                                 batch_size=2, workers=1)


def test_other_errors_propagate() -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        sliding_window_inference(torch.rand(1, 16, 16, 16), broken, (16, 16, 16))


def test_parallel_errors_propagate_and_threads_are_restored() -> None:
    before = torch.get_num_threads()
    calls = []

    def broken_later(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) > 2:
            raise ValueError("boom in a worker")
        return torch.zeros((x.shape[0], 2, *x.shape[2:]))

    with pytest.raises(ValueError, match="boom in a worker"):
        sliding_window_inference(torch.rand(1, 48, 48, 48), broken_later, (16, 16, 16),
                                 batch_size=2, workers=2)
    assert torch.get_num_threads() == before


def test_no_batch_of_one_window_when_avoidable() -> None:
    from interval.ai.sliding_window import batch_windows

    pos = [(i, 0, 0) for i in range(7)]
    assert [len(b) for b in batch_windows(pos, 2)] == [2, 2, 3]  # not 2, 2, 2, 1
    assert [len(b) for b in batch_windows(pos, 3)] == [3, 4]
    assert [len(b) for b in batch_windows(pos, 1)] == [1] * 7  # asked for: kept
    assert [len(b) for b in batch_windows(pos[:1], 2)] == [1]
    # concurrent workers: the single window runs beside another batch instead
    assert [len(b) for b in batch_windows(pos, 2, merge_single=False)] == [2, 2, 2, 1]
    assert sum(batch_windows(pos, 2), []) == pos  # every window once, in order
