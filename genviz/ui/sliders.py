"""The Latent sliders page's controls, for the server's widgets and the browser's (component `latent_sliders`)
alike: which dimensions get a slider, the controls' ranges, and the traversal row.

A latent of up to lt.MAX_SLIDERS dimensions gets a slider for each; a wider one (a brought autoencoder's (4, 8, 8)
latent is 256) gets none and is moved along its principal and class directions only, its traversal row along a
principal direction: hundreds of sliders, each nudging the picture too little to see, would bury the directions.
"""

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from genviz import latent as lt
from genviz.component import latent_sliders
from genviz.models.base import GenerativeModel
from genviz.pictures import enlarge, png_bytes, to_pil
from genviz.ui.live import live
from genviz.ui.resources import class_names
from genviz.ui.widgets import show_tiled

SIGMAS = torch.linspace(-3.0, 3.0, 7)  # the traversal row's 7 steps, in spreads (as lt.traversal's defaults)


def slider_dims(order: torch.Tensor) -> list[int]:
    """The dimensions with a slider, in the model's display order (`dimension_order`, (D,)): all, or none past
    lt.MAX_SLIDERS."""
    return order.tolist() if len(order) <= lt.MAX_SLIDERS else []


def why_no_dims(latent_dim: int) -> str:
    return (
        f"This model's latent has {latent_dim} dimensions: too many to move one by one (sliders are offered up to "
        f"{lt.MAX_SLIDERS}); move it along its principal directions and the class direction."
    )


STEPS = 100  # a dimension slider's steps across its range


def dim_range(centre: torch.Tensor, std: torch.Tensor, base: torch.Tensor, d: int) -> tuple[float, float, float]:
    """Dimension d's slider (low, high, step): its centre +- 4 spreads, widened to hold the start latent's value,
    in STEPS steps laid so that the start value is one of them: a slider shows and holds the latent's own value,
    not the nearest step (-2.1152, not -2.08)."""
    value = float(base[d])
    low, high = min(float(centre[d] - 4 * std[d]), value), max(float(centre[d] + 4 * std[d]), value)
    step = (high - low) / STEPS
    if step <= 0:
        return value - 1.0, value + 1.0, 2.0 / STEPS
    below = np.ceil((value - low) / step - 1e-9)  # whole steps from the start value down past low
    low = value - below * step
    return low, low + STEPS * step + (step if low + STEPS * step < high - 1e-12 else 0.0), step


def dim_specs(dims: list[int], centre: torch.Tensor, std: torch.Tensor, base: torch.Tensor, gen: int) -> list[dict]:
    """The browser's dimension sliders, as the server draws them."""
    specs = []
    for d in dims:
        low, high, step = dim_range(centre, std, base, d)
        specs.append({"key": f"dim-{gen}-{d}", "index": d, "label": f"z[{d}]", "min": low, "max": high,
                      "step": step, "value": float(base[d])})  # fmt: skip
    return specs


def direction_specs(spreads: torch.Tensor, gen: int) -> list[dict]:
    """The browser's principal-direction sliders, in spreads along each, as the server draws them."""
    return [
        {"key": f"pc-{gen}-{k}", "label": f"Principal direction {k + 1}", "spread": float(spread),
         "min": -3.0, "max": 3.0, "step": 0.1, "value": 0.0}
        for k, spread in enumerate(spreads.tolist())
    ]  # fmt: skip


def traversal_name(choice: int, by_direction: bool) -> str:
    """What the traversal row moves: dimension `choice`, or principal direction `choice` (0-based)."""
    return f"Principal direction {choice + 1}" if by_direction else f"z[{choice}]"


def traversal_row(
    centre: torch.Tensor, std: torch.Tensor, spreads: torch.Tensor, choice: int, by_direction: bool
) -> dict:
    """The traversal row as `latent_sliders` takes it: dimension `choice` set from -3 to +3 of its spread about
    its centre (as lt.traversal sets it), or, by_direction, the edited latent moved -3 to +3 spreads along
    principal direction `choice`."""
    if by_direction:
        caption = f"{traversal_name(choice, True)}: this latent moved -3 to +3 of its spread ({spreads[choice]:.2f})"
        return {"direction": choice, "values": SIGMAS.tolist(), "caption": caption}
    values = (centre[choice] + SIGMAS * std[choice]).tolist()
    return {"index": choice, "values": values,
            "caption": f"z[{choice}] from {values[0]:.2f} to {values[-1]:.2f} (-3 to +3 sigma)"}  # fmt: skip


def traversal_images(
    model: GenerativeModel, z: torch.Tensor, row: dict, directions: torch.Tensor, spreads: torch.Tensor
) -> torch.Tensor:
    """The decodes (steps, C, H, W) of `row` (`traversal_row`) from the edited latent z (D,), as the browser
    makes them; directions (K, D) and spreads (K,) as the sliders take them."""
    if "direction" in row:
        k = row["direction"]
        steps = torch.tensor(row["values"]) * spreads[k]  # (steps,), in latent units
        return lt.decode(model, z.float().cpu() + steps[:, None] * directions[k])  # (steps, D) decoded
    return lt.traversal(model, z, row["index"], len(row["values"]))[0]


def latent_text(z: torch.Tensor) -> str:
    """A latent (D,) in an address: its float32 bytes as base64url, exact and short (88 characters for 16
    dimensions; a static site's addresses write latents the same way)."""
    data = np.ascontiguousarray(z.detach().cpu().numpy(), dtype="<f4").tobytes()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def latent_from_text(text: str, dim: int) -> torch.Tensor:
    """`latent_text`'s latent back; ValueError says why a text is not one of `dim` numbers."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a latent written by this page") from None
    if len(data) != 4 * dim:
        raise ValueError(f"holds {len(data) // 4} numbers, not this model's {dim}")
    z = torch.from_numpy(np.frombuffer(data, dtype="<f4").copy())
    if not torch.isfinite(z).all():
        raise ValueError("holds numbers that are not finite")
    return z


@dataclass
class Editor:
    """The sliders' editor for one start latent: the controls, the decode and the traversal row, drawn and decoded
    by the browser while dragging (`ui.live`), or by the server with Streamlit's widgets where it cannot."""

    model: GenerativeModel
    path: str
    base: torch.Tensor  # (D,) the start latent
    gen: int  # bumped by a new start or Reset: new widget keys, so every control starts again at the base
    order: torch.Tensor  # (D,) the dimensions' display order
    data_z: torch.Tensor  # (N, D) latents of labelled test images (or samples), for the class direction
    labels: torch.Tensor  # (N,)
    pcs: torch.Tensor  # (K, D) principal directions
    spreads: torch.Tensor  # (K,)

    def __post_init__(self):
        self.dims = slider_dims(self.order)  # every dimension, or none
        self.traversable = self.dims or list(range(len(self.pcs)))  # what the row moves: dimensions, else directions
        self.known = sorted(set(self.labels.tolist()) - {-1})  # classes with latents, for the class direction
        self.names = class_names(self.model)
        self.centre, self.std = self.model.latent_scale()

    def edited(self, value: Callable) -> torch.Tensor:
        """The start latent (D,) as the controls edit it; value(key, default) gives each control's value."""
        gen, shift, along = self.gen, None, 0.0
        if len(self.known) >= 2 and (along := value(f"cls-{gen}", 0.0)):
            source, target = value(f"from-{gen}", self.known[0]), value(f"to-{gen}", self.known[1])
            shift = lt.class_direction(self.data_z, self.labels, source, target)
        values = {d: value(f"dim-{gen}-{d}", float(self.base[d])) for d in self.dims}
        amounts = [value(f"pc-{gen}-{k}", 0.0) for k in range(len(self.pcs))]
        return lt.edit_latent(self.base, values, self.pcs, self.spreads, amounts, shift, along)

    def traversed(self) -> int:
        """The dimension, or principal direction, that the traversal row moves."""
        by_direction = not self.dims
        label = "Traversal of " + ("principal direction" if by_direction else "dimension")
        return st.selectbox(
            label, self.traversable, format_func=lambda c: traversal_name(c, by_direction), key=f"trav-{self.gen}"
        )

    def draw(self, where, z: torch.Tensor) -> None:
        """The decode of z (280 px) and z itself as text, in `where`. The picture is a PNG data URL: it travels
        inside the element's message, where a file URL would be fetched by a second request that Streamlit's
        server answers only after the rest of the rerun (a few hundred ms on a busy 2-core machine)."""
        with where.container():
            png = png_bytes(enlarge(to_pil(lt.decode(self.model, z[None])[0]), 280))
            st.image("data:image/png;base64," + base64.b64encode(png).decode("ascii"), caption="decoded")
            st.code(lt.format_latent(z), language=None, wrap_lines=True)

    def class_direction(self, chosen: dict, amount: bool = True) -> None:
        """The class-to-class direction's controls, where the latent sample has two classes or more; without
        `amount`, only its two classes (the browser draws the amount's slider)."""
        if len(self.known) < 2:
            st.caption("Class directions need class labels: a model without an encoder needs a classifier beside it.")
            return
        gen, known, names = self.gen, self.known, self.names
        a, b = st.columns(2)
        chosen[f"from-{gen}"] = a.selectbox("From class", known, format_func=names.__getitem__, key=f"from-{gen}")
        chosen[f"to-{gen}"] = b.selectbox("To class", known, index=1, format_func=names.__getitem__, key=f"to-{gen}")
        if not amount:
            return
        chosen[f"cls-{gen}"] = st.slider(
            "Along the class direction", -1.0, 2.0, 0.0, 0.05, key=f"cls-{gen}",
            help="1 adds the mean latent of the target class minus that of the source class",
        )  # fmt: skip

    def live_editor(self) -> bool:
        """The editor drawn and decoded by the browser while dragging; False where the server must draw it."""
        key, gen = f"live-{self.path}", self.gen
        if (state := live(self.path, key, "The sliders decode")) is None:
            return False
        controls_id = f"{self.path}|{gen}"
        class_spec = class_vector = None
        if len(self.known) >= 2:
            source = st.session_state.get(f"from-{gen}", self.known[0])
            target = st.session_state.get(f"to-{gen}", self.known[1])
            class_vector = lt.class_direction(self.data_z, self.labels, source, target).numpy()
            class_spec = {"key": f"cls-{gen}", "label": "Along the class direction", "min": -1.0, "max": 2.0,
                          "step": 0.05, "value": 0.0}  # fmt: skip
        choice = st.session_state.get(f"trav-{gen}", self.traversable[0])
        row = traversal_row(self.centre, self.std, self.spreads, choice, not self.dims)
        latent_sliders(
            state.decoder, self.base.detach().float().numpy(), tuple(self.model.image_shape),
            controls_id=controls_id, dims=dim_specs(self.dims, self.centre, self.std, self.base, gen),
            directions=direction_specs(self.spreads, gen),
            direction_vectors=self.pcs.detach().float().reshape(len(self.pcs), self.model.latent_dim).numpy(),
            class_spec=class_spec, class_vector=class_vector, traversal=row, show=state.drawn, key=key,
        )  # fmt: skip
        if not state.drawn:
            return False
        values = state.values(controls_id)
        z = self.edited(lambda k, default: values.get(k, default))
        self.class_direction({}, amount=False)
        st.code(lt.format_latent(z), language=None, wrap_lines=True)
        self.traversed()
        return True

    def server_editor(self) -> None:
        """The editor with Streamlit's widgets. The decode is drawn first, from the values the widgets held, so
        that it is on its way before the ~25 widgets are drawn again."""
        gen, model = self.gen, self.model
        image_col, controls = st.columns([1, 2])
        slot = image_col.empty()
        z = self.edited(lambda k, default: st.session_state.get(k, default))
        self.draw(slot, z)
        chosen = {}  # each control's value by its widget key, as the widgets return them
        with controls:
            tabs = st.tabs((["Dimensions"] if self.dims else []) + ["Directions", "Traversal"])
            if self.dims:
                tabs[0].caption(f"All {len(self.dims)} dimensions, {model.dimension_order_name}.")
                columns = tabs[0].columns(4)
                for j, d in enumerate(self.dims):
                    low, high, step = dim_range(self.centre, self.std, self.base, d)
                    k = f"dim-{gen}-{d}"
                    chosen[k] = columns[j % 4].slider(
                        f"z[{d}]", low, high, float(self.base[d]), step, key=k, format="%.4f"
                    )
            with tabs[-2]:
                st.caption(f"Principal directions of {model.directions_name}, in standard deviations along each.")
                for k in range(len(self.pcs)):
                    chosen[f"pc-{gen}-{k}"] = st.slider(f"Principal direction {k + 1}", -3.0, 3.0, 0.0, 0.1,
                                                         key=f"pc-{gen}-{k}")  # fmt: skip
                self.class_direction(chosen)
            # Read before the widgets, the values are those the widgets return; should they ever differ,
            # the decode is drawn again in its place.
            if not torch.equal(final := self.edited(lambda k, default: chosen[k]), z):
                z = final
                self.draw(slot, z)
            with tabs[-1]:
                row = traversal_row(self.centre, self.std, self.spreads, self.traversed(), not self.dims)
                images = traversal_images(model, z, row, self.pcs, self.spreads)
                show_tiled(st, images, len(row["values"]), row["caption"])

    def __call__(self) -> None:
        if not self.live_editor():
            self.server_editor()
