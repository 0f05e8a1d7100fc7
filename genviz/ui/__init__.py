"""Streamlit pieces the pages share, by concern; kept out of `genviz`, which never imports streamlit.

- text: user-supplied text made literal, shared wordings
- params: a page's main choices in its URL
- feedback: progress bars, and the message for a dataset that cannot be read
- resources: cached models, datasets, stratified test subsets, latents and directions
- maps: latent maps and their disk cache
- scores: reconstructions, denoising curves, anomaly scores
- picker: the sidebar's model picker
- figures: plotly figures
- widgets: image sources, upload controls, pictures
- live: whether a page decodes in the browser (genviz's component) or on the server
- growth: a growing model's record (ProGAN's stages) on the model card and the Sample page

Pages write `ui.<name>`; everything they use is re-exported here. `ui.CHECKPOINTS` (the folders the picker lists
checkpoints from: `genviz.folders.checkpoint_roots`) is read when the picker runs, so that a test may point it
elsewhere.
"""

from genviz.folders import checkpoint_roots
from genviz.ui.drawing import drawn_picture
from genviz.ui.feedback import needs_data, progress
from genviz.ui.figures import curves_figure, map_figure, path_rows, roc_figure, score_histogram
from genviz.ui.growth import growth_card, stage_control
from genviz.ui.live import Live, live
from genviz.ui.maps import bundled_map, cached_test_and_train, latent_map, latest_map, map_data, map_payload, pca_map
from genviz.ui.params import choice, decimal, drop_from_url, flag, from_url, integer, link_warning, linked, to_url
from genviz.ui.picker import compatible_models, loaded_models, model_picker
from genviz.ui.resources import (
    SAMPLE,
    bundle,
    cached_model,
    class_names,
    data_source,
    dataset_name,
    decoder_bytes,
    dimension_order,
    directions,
    encoded_picture,
    encoded_test_image,
    is_offline,
    latent_sample,
    say_bundle_problem,
    test_set,
    test_subset,
)
from genviz.ui.scores import denoising_curves, foreign_scores, picture_scores, reconstructed, test_scores
from genviz.ui.text import below_chance, code, ordinal, percentile_text, plain
from genviz.ui.widgets import (
    UPLOAD_TYPES,
    Picture,
    endpoint,
    fit_controls,
    model_preparation,
    picture_source,
    read_pictures,
    show,
    show_notes,
    show_tiled,
    show_within,
    strip_row,
    tiled,
)

CHECKPOINTS = checkpoint_roots()


def searched() -> str:
    """The folders in `CHECKPOINTS`, as a page names them."""
    return ", ".join(code(str(p)) for p in CHECKPOINTS)


__all__ = [
    "CHECKPOINTS",
    "SAMPLE",
    "searched",
    "UPLOAD_TYPES",
    "Live",
    "Picture",
    "below_chance",
    "bundle",
    "bundled_map",
    "cached_model",
    "cached_test_and_train",
    "choice",
    "class_names",
    "code",
    "compatible_models",
    "curves_figure",
    "data_source",
    "dataset_name",
    "decimal",
    "decoder_bytes",
    "denoising_curves",
    "dimension_order",
    "directions",
    "drop_from_url",
    "encoded_picture",
    "encoded_test_image",
    "endpoint",
    "fit_controls",
    "flag",
    "foreign_scores",
    "from_url",
    "growth_card",
    "integer",
    "is_offline",
    "latent_map",
    "drawn_picture",
    "link_warning",
    "linked",
    "live",
    "latent_sample",
    "latest_map",
    "loaded_models",
    "map_data",
    "map_figure",
    "map_payload",
    "model_picker",
    "model_preparation",
    "needs_data",
    "ordinal",
    "path_rows",
    "pca_map",
    "percentile_text",
    "picture_scores",
    "picture_source",
    "plain",
    "progress",
    "read_pictures",
    "reconstructed",
    "roc_figure",
    "score_histogram",
    "say_bundle_problem",
    "show",
    "show_notes",
    "show_tiled",
    "show_within",
    "stage_control",
    "strip_row",
    "test_scores",
    "test_set",
    "test_subset",
    "tiled",
    "to_url",
]
