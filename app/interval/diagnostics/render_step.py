"""Self-test step: draw the loaded test pattern off-screen and check the pixels.

The frame is the viewer's slice view of the pattern's middle slice with the pattern's
DICOM window (40 / 400 HU): the background and each square must show the grey the
DICOM linear VOI function gives their HU (to within one grey level), in grey (R = G =
B), and the bright square (patient's right, front) must lie left of and above the
grey one (radiological convention: the patient's right on the screen's left).
"""

from __future__ import annotations

from interval.diagnostics.checks import SelfTestContext, check
from interval.diagnostics.data_steps import BACKGROUND_HU, PATTERN_SHAPE, SQUARES

EXPECTED_WINDOW = (40.0, 400.0)  # the writer's first window (SOFT TISSUE)
# HU -> grey under that window: round(((HU - 39.5) / 399 + 0.5) * 255), clipped to 0-255
EXPECTED_GREY = {1000: 255, 100: 166, 0: 102}
TOLERANCE = 1  # grey levels


def step_render(ctx: SelfTestContext) -> str:
    """Render the pattern's middle slice off-screen; check window, greys and orientation."""
    from interval.ui.offscreen_frame import render_middle_slice, start_qt

    platform = start_qt()
    volume = ctx.pattern_volume
    k = PATTERN_SHAPE[0] // 2  # the slice the view opens on
    spots = [(f"{hu} HU square", hu, ((i0 + i1 - 1) / 2, (j0 + j1 - 1) / 2, k))
             for hu, (j0, j1), (i0, i1) in SQUARES]
    spots.append(("background", BACKGROUND_HU, (32.0, 32.0, k)))
    rendered = render_middle_slice(volume, [volume.index_to_lps(spot[2]) for spot in spots])
    window = (rendered.window.center, rendered.window.width)
    check(window == EXPECTED_WINDOW,
          f"drawn with window {window[0]:g} / {window[1]:g}, not the DICOM file's "
          f"{EXPECTED_WINDOW[0]:g} / {EXPECTED_WINDOW[1]:g}")
    h, w = rendered.frame.shape[:2]
    greys = []
    for (what, hu, _ijk), (x, row) in zip(spots, rendered.points, strict=True):
        check(0 <= x < w and 0 <= row < h, f"the {what} lies outside the frame")
        red, green, blue = (int(v) for v in rendered.frame[int(row), int(x)])
        expected = EXPECTED_GREY[hu]
        check(red == green == blue, f"the {what} is drawn in colour {(red, green, blue)}")
        check(abs(red - expected) <= TOLERANCE,
              f"the {what} is drawn with grey {red}, not {expected}")
        greys.append(f"{hu} HU -> {red}")
    (bright_x, bright_row), (grey_x, grey_row) = rendered.points[:2]
    check(bright_x < grey_x and bright_row < grey_row,
          "the image is flipped: the patient's right front is not at the top left")
    return f"{w} x {h} frame ({platform} Qt platform): {', '.join(greys)}, orientation right"

