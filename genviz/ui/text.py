"""Text for the page: what users or checkpoints supplied, made literal in Streamlit's Markdown, and the
wordings several pages share."""

import re

from genviz.checkpoint import code_span

# A name or path as an inline code span (views write ui.code), literal whatever it holds.
code = code_span
# Every ASCII punctuation mark: CommonMark lets a backslash make any of them literal.
_MARKDOWN = re.compile(r"([!-/:-@[-`{-~])")
# GFM turns bare web and mail addresses into links in the parsed text, escaped or not; an invisible word
# joiner after "://", "www" or "@" keeps them text.
_AUTOLINK = re.compile(r"(://|@|\bwww(?=\.))", re.IGNORECASE)


def plain(text: object) -> str:
    """`text` (a file name, a typed path, a checkpoint's class name, an error naming them) made literal in
    Streamlit's Markdown: no links, images, emphasis, colours, icons or LaTeX from what a user supplied."""
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub("\\1\u2060", " ".join(str(text).split())))


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 101st, 111th."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def percentile_text(p: float) -> str:
    """A percentile in words to one decimal: '95th percentile' when it is whole, else 'percentile 99.3'
    (English has no ordinal for 99.3)."""
    rounded = round(p, 1)
    return f"{ordinal(int(rounded))} percentile" if rounded == int(rounded) else f"percentile {rounded:.1f}"


def below_chance(auc: float) -> str | None:
    """What an AUROC under 0.5 means, in words; None at or above chance."""
    if auc >= 0.5:
        return None
    return (
        f"**The chosen anomalies score lower than the normal images** (AUROC {auc:.4f}, under chance's 0.5): "
        "the model finds them easier to reconstruct than the rest, as simple pictures are (MNIST's ones, say). "
        f"Ranking by the flipped score, lowest first, would give AUROC {1 - auc:.4f}; reconstruction error is "
        "not evidence that these are anomalies."
    )
