"""A growing model's record (ProGAN's stages, `GenerativeModel.growth`): the model card's row and the Sample page's
stage control. Both draw nothing for a model that did not grow."""

import streamlit as st
import torch.nn.functional as F

from genviz.models import GenerativeModel
from genviz.pictures import grid, growth_row
from genviz.ui.params import choice, drop_from_url, linked, to_url


def growth_card(model: GenerativeModel, columns: int = 2) -> None:
    """The model card's row of the same latents' images at each recorded stage, from 4x4 to full size, each stage's
    grid `columns` images wide (1 in the narrow sidebar, where a latent's images then line up across the row)."""
    if record := model.growth():
        st.caption("Growth, the same 8 latents at each stage: " + "; ".join(what for what, _ in record) + ".")
        st.image(growth_row(record, columns), output_format="PNG")


def stage_control(model: GenerativeModel, controls, shown) -> None:
    """A "Stage" slider in `controls` over the recorded stages, and under the grid in `shown` the growth record's
    latents as the model drew them at that stage (its own resolution, enlarged)."""
    record = model.growth()
    if not record:
        drop_from_url("stage")  # left by a growing model chosen before
        return
    names = [what for what, _ in record]
    linked("stage", "sample_stage", choice(range(len(names))), len(names) - 1, controls)
    if st.session_state.sample_stage not in range(len(names)):  # kept from a model with more stages
        st.session_state.sample_stage = len(names) - 1
    stage = controls.select_slider(
        "Stage", range(len(names)), format_func=names.__getitem__, key="sample_stage",
        help="The model grew as it trained: the same 8 latents as the model drew them at the end of each stage",
    )  # fmt: skip
    to_url("stage", stage)
    images = record[stage][1]  # (8, C, r, r)
    enlarged = F.interpolate(images, scale_factor=max(1, 64 // images.shape[-1]), mode="nearest")  # crisp pixels
    caption = f"The growth record's {len(images)} fixed latents as drawn at stage {names[stage]}"
    shown.image(grid(enlarged, nrow=len(images)), caption=caption, output_format="PNG")
