"""Pictures prepared as a model's input, the way its training images were made: a plain fit (pad, crop, stretch) or
the subject found and placed as MNIST's digits were (`Preparation`); `upload_to_input` is the one way from an
upload's bytes to a model input."""

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

from genviz.uploads import read_upload

FITS = ("pad", "crop", "stretch")


# The preparation that finds the subject of a picture and places it as the dataset's images were (see Preparation).
SUBJECT = "subject"


CENTRES = ("mass", "box")


# Pictures with a side under this many pixels are too small to look for a subject in: they get the plain fit.
MIN_SUBJECT_SIDE = 8


# A picture is searched for its subject at most about this many pixels on its longer side (reduced by a whole
# factor first): a digit a tenth of a phone photo's height is then still about 100 pixels tall.
WORK_SIDE = 1024


# The upload as received is kept, for showing beside the model's input, at most this many pixels on a side.
RECEIVED_SIDE = 256


# What the notes say of an inversion, whichever preparation made it.
_INVERTED = "inverted: the model was trained on light-on-dark images and this one is dark-on-light"


_INVERTED_AS_ASKED = "inverted, as asked"


def is_dark_on_light(image: Image.Image) -> bool:
    """Whether an L or RGB picture has a light background, judged by its border: mean border value above half."""
    return _border(image).mean() > 127.5


def _border(image: Image.Image) -> np.ndarray:
    """(N, C) values of the outermost pixels (corners counted twice, harmless for a mean or a median)."""
    width, height = image.size
    strips = ((0, 0, width, 1), (0, height - 1, width, height), (0, 0, 1, height), (width - 1, 0, width, height))
    bands = len(image.getbands())
    return np.concatenate([np.asarray(image.crop(box)).reshape(-1, bands) for box in strips])


def to_model_input(
    image: Image.Image, shape: tuple[int, int, int], fit: str = "pad", invert: bool | None = None
) -> tuple[torch.Tensor, list[str]]:
    """The (C, H, W) tensor in [0, 1] a model of image shape `shape` takes, and notes on what was done to get it.

    fit: "pad" keeps the aspect ratio and pads with the border's median colour, "crop" keeps it and cuts the centre
    out, "stretch" ignores it. invert: None inverts one-channel inputs that are dark on light (the MNIST models saw
    light digits on black); True or False forces it.
    """
    _check_target(shape, fit)
    channels, height, width = shape
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"expected an L or RGB image, as read_upload returns, not {image.mode}")
    notes = []
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append("converted to greyscale" if mode == "L" else "greyscale copied into the 3 colour channels")
        image = image.convert(mode)
    # Inverting before fitting makes the padding, taken from the border, match the inverted picture.
    if invert is None:
        invert = channels == 1 and is_dark_on_light(image)
        if invert:
            notes.append(_INVERTED)
    elif invert:
        notes.append(_INVERTED_AS_ASKED)
    if invert:
        image = ImageOps.invert(image)
    if image.size != (width, height):
        image, note = _fit(image, (width, height), fit)
        notes.append(note)
    pixels = torch.from_numpy(np.array(image)).float().div(255)  # (H, W) or (H, W, 3)
    return (pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)).contiguous(), notes


def _check_target(shape: tuple[int, int, int], fit: str) -> None:
    """ValueError for a model shape or fit no upload can meet: a mistake in the calling code, not in the upload."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    _check_shape(shape)


def _check_shape(shape: tuple[int, int, int]) -> None:
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise ValueError(f"shape must be (C, H, W) with 1 or 3 channels and positive sides, not {shape}")


@dataclass(frozen=True)
class Preparation:
    """How an upload becomes a model's input: the way the model's training images were made, so that an upload
    looks like them. A checkpoint records its own (config.json's dataset.preparation); `default_preparation` gives
    one where it records none.

    fit "subject" (one-channel, digit-like datasets) levels the background, finds the subject, crops to it, scales
    its longer side to `box` pixels and centres it, as MNIST's digits were made (the MNIST page, LeCun, Cortes and
    Burges: "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio ... centered in a 28x28
    image by computing the center of mass of the pixels"). A plain fit ("pad", "crop", "stretch") fits the whole
    picture (see to_model_input).
    """

    fit: str = "pad"  # "subject", or one of FITS
    box: int = 20  # subject: pixels its longer side is scaled to (MNIST: 20 of 28)
    centre: str = "mass"  # subject: "mass" puts its centre of mass at the image's centre, "box" its bounding box's
    full: float = 0.4  # subject: fraction of its pixels at full strength after (MNIST: 0.4 of a digit's pixels are 255)

    def __post_init__(self):
        if self.fit not in (SUBJECT, *FITS):
            raise ValueError(f"fit must be one of {(SUBJECT, *FITS)}, not {self.fit!r}")
        if type(self.box) is not int or self.box < 1:
            raise ValueError(f"box must be a positive whole number of pixels, not {self.box!r}")
        if self.centre not in CENTRES:
            raise ValueError(f"centre must be one of {CENTRES}, not {self.centre!r}")
        if type(self.full) not in (int, float) or not 0 <= self.full < 1:
            raise ValueError(f"full must be a number from 0 up to 1 (a fraction of the subject), not {self.full!r}")

    @property
    def plain(self) -> bool:
        """Whether this is a plain fit of the whole picture, with no subject looked for."""
        return self.fit != SUBJECT

    def as_dict(self) -> dict:
        """As config.json records it: a plain fit by its name alone."""
        return {"fit": self.fit} if self.plain else asdict(self)

    @classmethod
    def from_dict(cls, values: object) -> "Preparation":
        """From config.json's dataset.preparation; ValueError says what is wrong (unknown keys included)."""
        if not isinstance(values, dict) or "fit" not in values:
            raise ValueError("must be a JSON object with a 'fit'")
        if unknown := values.keys() - {f.name for f in fields(cls)}:
            raise ValueError(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
        if values["fit"] in FITS and len(values) > 1:
            raise ValueError(f"the plain fit {values['fit']!r} takes no other settings")
        return cls(**values)

    def check(self, shape: tuple[int, int, int]) -> None:
        """ValueError where a model of image shape `shape` (C, H, W) cannot take inputs prepared this way."""
        if not self.plain and shape[0] != 1:
            raise ValueError(f"the subject preparation is for one-channel models, not {shape[0]} channels")
        if not self.plain and self.box > min(shape[1:]):
            raise ValueError(f"a box of {self.box} pixels does not fit the model's {shape[2]}x{shape[1]} images")

    def describe(self, shape: tuple[int, int, int]) -> str:
        """What it does, in words, for a model of image shape `shape`."""
        if self.plain:
            return {
                "pad": "the whole picture, padded to a square",
                "crop": "the centre of the picture, cropped to a square",
                "stretch": "the whole picture, stretched to a square",
            }[self.fit] + f" and scaled to {shape[2]}x{shape[1]}"
        centred = "its centre of mass" if self.centre == "mass" else "its box"
        return (
            f"the background levelled, the subject found, scaled to fit {self.box}x{self.box} "
            f"and placed in {shape[2]}x{shape[1]} by {centred}"
        )


# Each dataset's own preparation, by the name genviz.data.load_dataset takes. Fashion-MNIST's products were trimmed,
# their longer side resized to 28 and the shorter extended to 28 about the centre, then negated (Xiao, Rasul and
# Vollgraf 2017, section 2): the box fills the image, centred, and the shades are kept (only the brightest at 1).
MNIST = Preparation(SUBJECT, box=20, centre="mass", full=0.4)


FASHION_MNIST = Preparation(SUBJECT, box=28, centre="box", full=0.0)


DATASET_PREPARATIONS = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST, "cifar10": Preparation("crop")}


def default_preparation(shape: tuple[int, int, int], dataset: str | None = None) -> Preparation:
    """The preparation for a model of image shape `shape` (C, H, W) trained on `dataset`, where its checkpoint records
    none: the dataset's own (DATASET_PREPARATIONS); else MNIST's for a one-channel 28x28 model, and a centre crop,
    as for natural images, for any other."""
    own = DATASET_PREPARATIONS.get(dataset)
    if own is not None:
        try:
            own.check(shape)
            return own
        except ValueError:
            pass
    return MNIST if tuple(shape) == (1, 28, 28) else Preparation("crop")


def prepare(
    image: Image.Image, shape: tuple[int, int, int], preparation: Preparation | None = None, invert: bool | None = None
) -> tuple[torch.Tensor, list[str]]:
    """The (C, H, W) tensor in [0, 1] a model of image shape `shape` takes, prepared as `preparation` says (default:
    `default_preparation(shape)`), and notes on what was done. A plain fit is to_model_input's (see it for invert).

    The subject preparation never fails on a picture: where none can be found (blank, all ink, too small) the notes
    say why and the whole picture is padded instead. invert: None inverts a picture whose ink is darker than its
    background (the one-channel models saw light strokes on black); True or False forces it.
    """
    _check_shape(shape)
    preparation = preparation or default_preparation(shape)
    preparation.check(shape)
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"expected an L or RGB image, as read_upload returns, not {image.mode}")
    if preparation.plain:
        return to_model_input(image, shape, preparation.fit, invert)
    return _prepare_subject(image, shape, preparation, invert)


class _NoSubject(Exception):
    """Why a picture's subject cannot be prepared, in words for the notes."""


def _prepare_subject(
    image: Image.Image, shape: tuple[int, int, int], preparation: Preparation, invert: bool | None
) -> tuple[torch.Tensor, list[str]]:
    _, height, width = shape
    w, h = image.size
    if min(w, h) < MIN_SUBJECT_SIDE:
        return _padded_instead(image, shape, invert, f"at {w}x{h} pixels the picture is too small to find a subject in")
    # Reduced by a whole factor (each pixel the mean of a block) before anything else: a 40-megapixel upload is
    # searched at about a megapixel, and never copied whole. The shorter side keeps at least MIN_SUBJECT_SIDE.
    factor = max(1, min(-(-max(w, h) // WORK_SIDE), min(w, h) // MIN_SUBJECT_SIDE))
    work = image.reduce(factor) if factor > 1 else image
    notes = []
    if work.mode != "L":
        notes.append("converted to greyscale")
        work = work.convert("L")
    # Smoothed a little (a Gaussian of up to 1.7 pixels at 1,024 a side) against the camera's noise and JPEG's
    # blocks: strokes are many pixels wide at this size, and the subject is scaled down to a few dozen pixels after.
    if (sigma := max(work.size) / 600) >= 0.5:
        work = work.filter(ImageFilter.GaussianBlur(sigma))
    values = np.asarray(work, dtype=np.float32)
    asked = invert
    if invert is None:
        invert = _ink_is_dark(values)
        notes += [_INVERTED] if invert else []
    elif invert:
        notes.append(_INVERTED_AS_ASKED)
    if invert:
        values = 255 - values  # from here on the ink is brighter than the paper, as in the model's images
    if (w, h) == (width, height) and _already_prepared(values, preparation):
        notes.append(
            f"already as the training images are (a clean background, the subject within "
            f"{preparation.box}x{preparation.box} and centred): used as it is"
        )
        return torch.from_numpy(values / 255).float()[None].contiguous(), notes
    try:
        ink, box, level_note, left_out = _find_subject(values, invert)
    except _NoSubject as reason:
        return _padded_instead(image, shape, asked, str(reason))
    left, top, right, bottom = (v * factor for v in box)
    notes.append(level_note)
    notes += left_out
    notes.append(f"cropped to the subject: {min(right, w) - left}x{min(bottom, h) - top} pixels at ({left}, {top})")
    canvas, placed = _place(ink, (height, width), preparation)
    notes.append(placed)
    return torch.from_numpy(canvas)[None].contiguous(), notes


def _padded_instead(
    image: Image.Image, shape: tuple[int, int, int], invert: bool | None, reason: str
) -> tuple[torch.Tensor, list[str]]:
    """The plain "pad" fit of the whole picture, inverted as to_model_input decides (a blank page is judged by its
    border), after `reason`: why no subject was prepared."""
    tensor, notes = to_model_input(image, shape, "pad", invert)
    return tensor, [f"{reason}; the whole picture is padded instead", *notes]


def _ink_is_dark(values: np.ndarray) -> bool:
    """Whether the marks in a greyscale picture (H, W) are darker than its background: the background is the typical
    value (the median), the marks the tail that reaches further from it. Judged from the extremes (0.05% of the
    pixels each way), so that a digit on a hundredth of a photo still counts, and a few hot pixels do not."""
    low, middle, high = np.percentile(values, (0.05, 50, 99.95))
    return middle - low > high - middle


def _already_prepared(values: np.ndarray, preparation: Preparation) -> bool:
    """Whether a picture of the model's size (ink bright) already is as the training images are: a clean background,
    the subject within the box and centred within a pixel (a test image saved and uploaded again)."""
    ink = values > 16
    if not ink.any() or ink.all() or values[~ink].mean() > 4:
        return False
    if max(values[0].max(), values[-1].max(), values[:, 0].max(), values[:, -1].max()) > 16:
        return False
    rows, cols = np.nonzero(ink)
    if np.ptp(rows) + 1 > preparation.box + 1 or np.ptp(cols) + 1 > preparation.box + 1:
        return False
    height, width = values.shape
    if preparation.centre == "mass":
        mass = values.sum()
        y, x = (values.sum(1) @ np.arange(height)) / mass, (values.sum(0) @ np.arange(width)) / mass
        target = (height / 2, width / 2)
    else:
        y, x = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
        target = ((height - 1) / 2, (width - 1) / 2)
    return abs(y - target[0]) <= 1 and abs(x - target[1]) <= 1


def _background(values: np.ndarray) -> np.ndarray:
    """The paper's shade under a picture (H, W) whose ink is bright: a quadratic surface (uneven light) fitted to the
    medians of a 16x16 grid of cells, cells the ink covers (much brighter than the fit) left out and the fit
    repeated. A cell's median is the paper's unless ink covers half of it; thick strokes spoil a few cells, which
    are left out."""
    height, width = values.shape
    cell = max(2, -(-max(height, width) // 16))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.pad(values, ((0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    medians = np.median(padded.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    y, x = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    target = medians.reshape(-1)
    coefficients, keep = np.array([np.median(target), 0, 0, 0, 0, 0]), np.ones(rows * cols, dtype=bool)
    for _ in range(5):  # from one shade (the median) on: a band of ink along an edge cannot bend the first fit
        residual = target - terms @ coefficients
        spread = max(2.0, 1.4826 * float(np.median(np.abs(residual[keep]))))
        keep = residual < 3 * spread  # one-sided: ink is brighter than the paper, never darker
        if keep.sum() < 12:  # too few cells for a surface: one shade
            coefficients = np.array([np.median(target[keep]) if keep.any() else np.median(target), 0, 0, 0, 0, 0])
            break
        coefficients = np.linalg.lstsq(terms[keep], target[keep], rcond=None)[0]
    y, x = (np.arange(height)[:, None] + 0.5) / (rows * cell), (np.arange(width)[None] + 0.5) / (cols * cell)
    a, b, c, d, e, f = coefficients
    return (a + b * x + c * y + d * x * x + e * x * y + f * y * y).astype(np.float32)


def _find_subject(values: np.ndarray, inverted: bool) -> tuple[np.ndarray, tuple[int, int, int, int], str, list[str]]:
    """The subject of a greyscale picture (H, W) whose ink is bright (`inverted`: made so from the upload): its ink
    cropped, (h, w) float32 from 0 (the background, exactly) to 1; its box (left, top, right, bottom) in the
    picture; a note on the levelling; notes on marks left out. _NoSubject says why there is none."""
    paper = _background(values)
    ink = values - paper
    below = ink[ink <= np.median(ink)]
    centre = float(np.median(ink))
    # The paper's noise, from the half of the pixels below the median, where no ink is: ink only adds bright pixels.
    noise = 1.4826 * float(np.median(centre - below)) if below.size else 0.0
    strong = ink > centre + max(6 * noise, 12)
    if not strong.any():
        raise _NoSubject("nothing stands out from the background (the picture is blank or of one shade)")
    level = float(np.percentile(ink[strong], 90))
    if level - centre < 32:
        raise _NoSubject(
            f"nothing stands out clearly: the strongest marks differ from the background by {level - centre:.0f} of 255"
        )
    mask = ink > centre + max(6 * noise, 12, 0.4 * (level - centre))
    if mask.mean() > 0.5:
        raise _NoSubject(f"marks cover {mask.mean():.0%} of the picture, so there is no single subject to crop to")
    labels, count = _components(mask)
    subject, left_out = _subject_components(labels, count, mask.size)
    # One pixel around the strokes kept: their anti-aliased edges, below the threshold.
    near = np.asarray(Image.fromarray(np.isin(labels, subject).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3)))
    rows, cols = np.nonzero(near)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    floor = centre + 3 * noise  # the paper's brightest, noise included: black after
    strength = np.clip((ink[top:bottom, left:right] - floor) / max(level - floor, 1.0), 0, 1)
    strength *= near[top:bottom, left:right] > 0
    low, middle, high = np.percentile(paper, (5, 50, 95))
    if inverted:  # the paper's shade as the picture has it
        low, middle, high = 255 - high, 255 - middle, 255 - low
    uneven = f", from {low:.0f} to {high:.0f} across the picture" if high - low >= 16 else ""
    note = (
        f"background levelled: the paper (about {middle:.0f} of 255{uneven}) made black "
        "and the ink's contrast stretched"
    )
    return strength.astype(np.float32), (int(left), int(top), int(right), int(bottom)), note, left_out


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of a boolean mask (H, W): labels (H, W), 0 outside and 1 to count inside, and the
    count. Runs of each row are joined to the runs they touch in the next row, and the labels of joined runs
    settled by taking the smallest over each join, then following each label to its own, until none changes."""
    height, width = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)  # (H, W + 1): +1 a run starts, -1 ends
    run_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # the same order: row by row, left to right, one end per start
    count = len(starts)
    run = np.full((height, width), -1, dtype=np.int64)  # each pixel's run
    if count == 0:
        return np.zeros((height, width), dtype=np.int32), 0
    lengths = ends - starts
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    run[np.repeat(run_rows, lengths), np.repeat(starts, lengths) + np.arange(lengths.sum()) - first] = np.repeat(
        np.arange(count), lengths
    )
    pairs = []
    for shift in (-1, 0, 1):  # a pixel touches three in the row below
        upper = run[:-1, max(0, -shift) : width - max(0, shift)]
        lower = run[1:, max(0, shift) : width - max(0, -shift)]
        touching = (upper >= 0) & (lower >= 0)
        pairs.append(np.stack([upper[touching], lower[touching]], axis=1))
    joins = np.concatenate(pairs)  # repeats are harmless below
    label = np.arange(count)
    while len(joins):
        smaller = np.minimum(label[joins[:, 0]], label[joins[:, 1]])
        settled = label.copy()
        np.minimum.at(settled, label[joins[:, 0]], smaller)
        np.minimum.at(settled, label[joins[:, 1]], smaller)
        while not np.array_equal(settled, settled[settled]):
            settled = settled[settled]
        if np.array_equal(settled, label):
            break
        label = settled
    roots, label = np.unique(label, return_inverse=True)
    labels = np.zeros((height, width), dtype=np.int32)
    labels[run >= 0] = label[run[run >= 0]] + 1
    return labels, len(roots)


def _subject_components(labels: np.ndarray, count: int, pixels: int) -> tuple[np.ndarray, list[str]]:
    """Which components (labels 1 to count) make the subject, and notes on the marks left out. The subject grows from
    the largest mark, one not touching the picture's edge where there is one of some size (a shadow or the paper's
    edge touches it; a digit seldom does), taking in every mark whose box comes within a sixth of the subject's size
    of its box: the strokes of one digit, broken or not. Specks (under 2% of the largest mark) and marks apart
    from the subject are left out."""
    height, width = labels.shape
    rows, cols = np.nonzero(labels)
    found = labels[rows, cols] - 1
    areas = np.bincount(found, minlength=count)
    top, left = np.full(count, height), np.full(count, width)
    bottom, right = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)
    np.minimum.at(top, found, rows)
    np.minimum.at(left, found, cols)
    np.maximum.at(bottom, found, rows + 1)
    np.maximum.at(right, found, cols + 1)
    smallest = max(9, 2e-4 * pixels)  # a subject's least area: a fiftieth of a percent of the picture
    if areas.max() < smallest:
        raise _NoSubject(
            f"nearly blank: the largest mark covers {areas.max() / pixels:.3%} of the picture, too little for a subject"
        )
    inner = (top > 0) & (left > 0) & (bottom < height) & (right < width)
    pool = inner if (inner & (areas >= smallest)).any() else np.ones(count, dtype=bool)
    specks = areas < max(3, 0.02 * areas[pool].max())
    candidates = pool & ~specks
    seed = int(np.argmax(np.where(candidates, areas, -1)))
    subject = np.zeros(count, dtype=bool)
    subject[seed] = True
    box = [top[seed], left[seed], bottom[seed], right[seed]]
    while True:
        margin = max(2, max(box[2] - box[0], box[3] - box[1]) / 6)
        near = (
            candidates
            & ~subject
            & (top < box[2] + margin)
            & (bottom > box[0] - margin)
            & (left < box[3] + margin)
            & (right > box[1] - margin)
        )
        if not near.any():
            break
        subject |= near
        box = [top[subject].min(), left[subject].min(), bottom[subject].max(), right[subject].max()]
    apart = candidates & ~subject
    # Of a size with the subject: a box at least half as long. Not by ink: a '1' has a third of a '0's.
    large = apart & (np.maximum(bottom - top, right - left) >= max(box[2] - box[0], box[3] - box[1]) / 2)
    counts = (
        (large.sum(), "other mark of a size with the subject", "other marks of a size with the subject"),
        ((apart & ~large).sum(), "smaller mark away from the subject", "smaller marks away from the subject"),
        ((~pool & ~specks).sum(), "mark along the picture's edge", "marks along the picture's edge"),
        (specks.sum(), "speck", "specks"),
    )
    notes = [f"{n} {one if n == 1 else many} left out" for n, one, many in counts if n]
    if large.any():
        notes[0] += " (the model takes one subject a picture: crop the picture to the one you mean)"
    return np.flatnonzero(subject) + 1, notes


def _place(ink: np.ndarray, size: tuple[int, int], preparation: Preparation) -> tuple[np.ndarray, str]:
    """The subject's ink (h, w) scaled so that its longer side is `preparation.box` pixels (aspect ratio kept),
    stretched so that `preparation.full` of its pixels are at full strength, and placed on a black canvas of
    `size` (H, W) with its centre of mass (or its box) at the centre: float32 (H, W) in [0, 1], and a note."""
    height, width = size
    h, w = ink.shape
    scale = preparation.box / max(h, w)
    scaled = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(_resize(Image.fromarray(ink, mode="F"), scaled)).clip(0, 1)
    on = small[small > 0.05]
    top_level = (np.quantile(on, 1 - preparation.full) if preparation.full else on.max()) if on.size else 1.0
    small = (small / max(float(top_level), 1e-3)).clip(0, 1).astype(np.float32)
    sh, sw = small.shape
    if preparation.centre == "mass" and small.sum() > 0:
        mass = small.sum()
        y, x = (small.sum(1) @ np.arange(sh)) / mass, (small.sum(0) @ np.arange(sw)) / mass
        # MNIST's digits have their centre of mass at (14, 14) of 28x28: pixel centres counted from 0.
        top, left, how = round(height / 2 - y), round(width / 2 - x), "its centre of mass"
    else:
        top, left, how = round((height - sh) / 2), round((width - sw) / 2), "its box"
    top, left = min(max(top, 0), height - sh), min(max(left, 0), width - sw)  # the whole box inside
    canvas = np.zeros((height, width), dtype=np.float32)
    canvas[top : top + sh, left : left + sw] = small
    return canvas, (
        f"scaled to {sw}x{sh} to fit {preparation.box}x{preparation.box}, keeping its aspect ratio, and placed in "
        f"{width}x{height} by {how}, as the training images were"
    )


@dataclass
class ModelInput:
    name: str
    image: torch.Tensor  # (C, H, W) float32 in [0, 1]: the model's image shape
    notes: list[str]  # what was done on the way, in order: read_upload's notes, then the preparation's
    # The upload as read (upright, L or RGB), at most RECEIVED_SIDE pixels on a side, to show beside `image`;
    # None for an image that was no upload (a test image).
    received: Image.Image | None = None


def upload_to_input(
    data: bytes,
    name: str,
    shape: tuple[int, int, int],
    fit: str | None = None,
    invert: bool | None = None,
    *,
    preparation: Preparation | None = None,
) -> ModelInput:
    """An uploaded file's bytes as the input of a model of image shape `shape` (C, H, W): the one way every page
    turns an upload into a model input. read_upload, then `prepare`.

    preparation: how the model's training images were made (a checkpoint's `dataset.preparation`); by default
    `default_preparation(shape)`: a one-channel 28x28 model's uploads are prepared as MNIST's digits were. fit: a
    plain fit of the whole picture instead (see to_model_input); give one or the other. invert: see `prepare`.

    Any file raises only UploadError, its message naming the file and saying what to do; ValueError means a wrong
    shape, fit or preparation, a mistake of the caller's whatever the file. tests/test_upload_fuzz.py holds it to
    that.
    """
    if fit is not None:
        _check_target(shape, fit)
        if preparation is not None:
            raise ValueError("give a fit or a preparation, not both")
        preparation = Preparation(fit)
    _check_shape(shape)
    preparation = preparation or default_preparation(shape)
    preparation.check(shape)
    upload = read_upload(data, name)
    tensor, notes = prepare(upload.image, shape, preparation, invert)
    return ModelInput(name, tensor, upload.notes + notes, _received(upload.image))


def _received(image: Image.Image) -> Image.Image:
    """A copy of an upload small enough to keep for showing: at most RECEIVED_SIDE pixels on a side."""
    scale = RECEIVED_SIDE / max(image.size)
    if scale >= 1:
        return image.copy()
    return _resize(image, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    # LANCZOS averages over the whole footprint of each output pixel, so a stroke thinner than the reduction factor
    # fades instead of vanishing; reducing_gap first box-reduces big uploads by an integer factor, which is faster.
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _fit(image: Image.Image, size: tuple[int, int], fit: str) -> tuple[Image.Image, str]:
    (w, h), (width, height) = image.size, size
    change = f"from {w}x{h} to {width}x{height}"
    if fit == "stretch":
        return _resize(image, size), f"stretched {change}, ignoring the aspect ratio"
    scale = min(width / w, height / h) if fit == "pad" else max(width / w, height / h)
    scaled = (max(1, round(w * scale)), max(1, round(h * scale)))
    if fit == "crop":
        scaled = (max(width, scaled[0]), max(height, scaled[1]))
    if scaled == size:
        return _resize(image, size), f"resized {change}"
    sides = "the sides" if scaled[0] != width else "the top and bottom"
    if fit == "crop":
        # The centre of the source with the target's aspect ratio, resized in one step. Scaling the whole image
        # first and cropping after would build the scaled image in full: 28 x 1,120,000 pixels for a 1 x 40,000 one.
        crop_w, crop_h = min(w, width / scale), min(h, height / scale)  # min: against rounding past the edge
        left, top = (w - crop_w) / 2, (h - crop_h) / 2
        resized = _resize(image, size, box=(left, top, left + crop_w, top + crop_h))
        return resized, f"resized {change}, keeping the aspect ratio and cropping {sides}"
    resized = _resize(image, scaled)
    left, top = (width - scaled[0]) // 2, (height - scaled[1]) // 2
    background = tuple(int(v) for v in np.median(_border(image), axis=0))
    canvas = Image.new(image.mode, size, background[0] if image.mode == "L" else background)
    canvas.paste(resized, (left, top))
    return canvas, f"resized {change}, keeping the aspect ratio and padding {sides}"
