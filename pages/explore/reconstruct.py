"""Reconstructions: test images next to what the VAE makes of them; your own digits too."""

import streamlit as st
import torch

import vae
from explorer import uploads
from pages.ui.links import BIND, link_ui
from pages.ui.widgets import dataset_or_stop, drawing_pad_ui, image_pairs, remember, require_model, show, show_images
from vae.latent import RECONSTRUCTION_MODES

MODE_TEXT = dict(zip(RECONSTRUCTION_MODES, (
    "decoder mean at z = μ (the usual 'reconstruction')",
    "decoder mean at a sampled z ~ q(z|x)",
    "a sample x ~ p(x|z) at a sampled z (what the model literally generates)")))

remember("recon_user_label", "recon_mode", "recon_n", "recon_seed")

st.title("Reconstructions")
st.markdown("The encoder squeezes each image into a latent code; the decoder rebuilds it from that code alone. "
            "What survives the squeeze is what the model has learned matters.")
sel = require_model()
_, h, w = sel.config.input_shape


def user_label() -> torch.Tensor | None:
    """A conditional model also needs to be told which digit a user's image is."""
    if not sel.config.conditional:
        return None
    names = list(range(sel.config.n_classes))
    label = st.session_state.get("recon_user_label", 0)
    return torch.tensor([label if label in names else 0])


if sel.config.conditional:
    st.selectbox("Your digits are a… (this conditional model is told the label)", range(sel.config.n_classes),
                 key="recon_user_label", bind=BIND)
tab_test, tab_upload, tab_draw = st.tabs(["Test images", "Upload your digits", "Draw a digit"])


def remember_code(name: str, mu: torch.Tensor) -> None:
    """Keep user images' codes (per model) so the latent map can highlight them."""
    codes = st.session_state.setdefault("user_codes", {}).setdefault(str(sel.entry.path), {})
    codes[name] = mu.tolist()


with tab_test:
    split, _ = dataset_or_stop(sel.dataset)
    c1, c2, c3 = st.columns([2, 1, 1])
    mode = c1.radio("Show", RECONSTRUCTION_MODES, format_func=MODE_TEXT.get, key="recon_mode", bind=BIND)
    n = c2.select_slider("Images", options=[8, 16, 24, 32], value=16, key="recon_n", bind=BIND)
    seed = c3.number_input("Seed", min_value=0, value=0, step=1, key="recon_seed", bind=BIND)

    def reshuffle() -> None:
        st.session_state["recon_seed"] += 1

    c3.button("Reshuffle", icon=":material/shuffle:", key="recon_shuffle", on_click=reshuffle)
    with c2:
        link_ui("recon_link")

    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(int(seed)))[:n]
    x = split.x[idx]
    r = vae.latent.reconstruct(sel.model, x, mode=mode, seed=int(seed), labels=split.y[idx])
    score = "−ELBO" if sel.config.variational else "loss"  # a plain autoencoder's loss is its reconstruction
    st.caption(f"Seed {seed} · each test image above its reconstruction · under it: {score} in nats "
               + ("(reconstruction + KL; lower means the model finds the image more typical)" if sel.config.variational
                  else "(the reconstruction alone: this plain autoencoder has no KL)")
               + (". A Gaussian decoder's nats are a density of continuous pixel values, so they can be negative and "
                  "are not comparable with a Bernoulli model's" if sel.config.likelihood == "gaussian" else ""))
    image_pairs(x, r.x_hat, [f"#{int(i)} · label {split.class_names[int(split.y[i])]}" for i in idx],
                [f"{score} {v:.0f}" for v in r.neg_elbo.tolist()])
    st.session_state["recon_grid"] = r.x_hat


@st.cache_data(show_spinner="Reading your images…", max_entries=256)
def prepare_upload(data: bytes, size: int) -> uploads.Upload:
    """The model input and a preview, or what is wrong with the file: once per file, not per rerun."""
    return uploads.read_upload(data, size)


def show_problem(name: str, problem: str) -> None:
    st.error(f"**{name}**: {problem}", icon=":material/error:")


def show_user_image(name: str, x: torch.Tensor, raw_preview=None) -> None:
    """One user image: as sent, the preprocessed input (1, H, W), the reconstruction, its code and score."""
    r = vae.latent.reconstruct(sel.model, x[None], labels=user_label())
    remember_code(name, r.mu[0])
    cols = st.columns([1, 1, 1, 2])
    if raw_preview is not None:
        show(cols[0], raw_preview, caption="as sent", width=112)
    for col, img, caption in ((cols[1], x[None], "model input"), (cols[2], r.x_hat, "reconstruction")):
        with col:
            show_images(img, captions=[caption], width=112, scale=4)
    mu = ", ".join(f"{v:+.2f}" for v in r.mu[0].tolist()[:8])
    sd = ", ".join(f"{v:.2f}" for v in r.std[0].tolist()[:8])
    more = " …" if sel.config.latent_dim > 8 else ""
    if not sel.config.variational:
        cols[3].markdown(f"**{name}**  \nz = ({mu}{more})  \nreconstruction **{r.recon.item():.1f}** nats "
                         "(a plain autoencoder: one code, no σ, no KL)")
        return
    cols[3].markdown(f"**{name}**  \nμ = ({mu}{more})  \nσ = ({sd}{more})  \n−ELBO **{r.neg_elbo.item():.1f}** nats "
                     f"(reconstruction {r.recon.item():.1f} + KL {r.kl.item():.2f})")


with tab_upload:
    st.markdown("Photograph or scan a digit you wrote (dark ink on light paper is fine). Each image is turned "
                f"into an MNIST-style {h}x{w} input: greyscale, inverted, cropped to the ink, scaled and centred.")
    files = st.file_uploader("Digit images", type=uploads.UPLOAD_TYPES, accept_multiple_files=True, key="uploads")
    for f in files or []:
        with st.container(border=True):
            upload = prepare_upload(f.getvalue(), h)
            if upload.problem:
                show_problem(f.name, upload.problem)
            else:
                show_user_image(f.name, upload.x, upload.preview)

with tab_draw:
    st.markdown("Draw a digit with the mouse (or a finger). It is reconstructed as you draw and appears on the latent map.")
    left, right = st.columns([1, 2])
    with left:
        image = drawing_pad_ui("draw_canvas")
    with right:
        if image is None:
            st.info("The pad is empty: draw a digit on the left.")
        else:
            try:
                show_user_image("your drawing", uploads.preprocess_image(image, size=h))
            except ValueError as e:
                show_problem("your drawing", str(e))
