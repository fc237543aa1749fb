"""Reconstructions: test images next to what the VAE makes of them; your own digits too."""

import streamlit as st
import torch

import vae
from explorer import i18n, uploads
from explorer.i18n import N_, _, lazy
from pages.ui.links import BIND, link_ui
from pages.ui.widgets import dataset_or_stop, drawing_pad_ui, image_pairs, remember, require_model, show, show_images
from vae.latent import RECONSTRUCTION_MODES

MODE_TEXT = dict(zip(RECONSTRUCTION_MODES, (
    N_("decoder mean at z = μ (the usual 'reconstruction')"),
    N_("decoder mean at a sampled z ~ q(z|x)"),
    N_("a sample x ~ p(x|z) at a sampled z (what the model literally generates)"))))

DRAWING = N_("your drawing")  # the key of the drawing's code in "user_codes" (English, as data); shown with _()

remember("recon_user_label", "recon_mode", "recon_n", "recon_seed")

st.title(_("Reconstructions"))
st.markdown(_("The encoder squeezes each image into a latent code; the decoder rebuilds it from that code alone. "
              "What survives the squeeze is what the model has learned matters."))
sel = require_model()
h, w = sel.config.input_shape[1:]


def user_label() -> torch.Tensor | None:
    """A conditional model also needs to be told which digit a user's image is."""
    if not sel.config.conditional:
        return None
    names = list(range(sel.config.n_classes))
    label = st.session_state.get("recon_user_label", 0)
    return torch.tensor([label if label in names else 0])


if sel.config.conditional:
    st.selectbox(_("Your digits are a… (this conditional model is told the label)"), range(sel.config.n_classes),
                 key="recon_user_label", bind=BIND)
tab_test, tab_upload, tab_draw = st.tabs([_("Test images"), _("Upload your digits"), _("Draw a digit")])


def remember_code(name: str, mu: torch.Tensor) -> None:
    """Keep user images' codes (per model) so the latent map can highlight them."""
    codes = st.session_state.setdefault("user_codes", {}).setdefault(str(sel.entry.path), {})
    codes[name] = mu.tolist()


with tab_test:
    split = dataset_or_stop(sel.dataset)[0]
    c1, c2, c3 = st.columns([2, 1, 1])
    mode = c1.radio(_("Show"), RECONSTRUCTION_MODES, format_func=lambda m: _(MODE_TEXT[m]), key="recon_mode", bind=BIND)
    n = c2.select_slider(_("Images"), options=[8, 16, 24, 32], value=16, key="recon_n", bind=BIND)
    seed = c3.number_input(_("Seed"), min_value=0, value=0, step=1, key="recon_seed", bind=BIND)

    def reshuffle() -> None:
        st.session_state["recon_seed"] += 1

    c3.button(_("Reshuffle"), icon=":material/shuffle:", key="recon_shuffle", on_click=reshuffle)
    with c2:
        link_ui("recon_link")

    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(int(seed)))[:n]
    x = split.x[idx]
    r = vae.latent.reconstruct(sel.model, x, mode=mode, seed=int(seed), labels=split.y[idx])
    if sel.config.variational:
        caption = _("Seed {seed} · each test image above its reconstruction · under it: −ELBO in nats (reconstruction + "
                    "KL; lower means the model finds the image more typical)").format(seed=seed)
        score = "−ELBO {nats:.0f}"
    else:  # a plain autoencoder's loss is its reconstruction
        caption = _("Seed {seed} · each test image above its reconstruction · under it: loss in nats (the reconstruction "
                    "alone: this plain autoencoder has no KL)").format(seed=seed)
        score = _("loss {nats:.0f}")
    if sel.config.likelihood == "gaussian":
        caption = _("{caption}. A Gaussian decoder's nats are a density of continuous pixel values, so they can be "
                    "negative and are not comparable with a Bernoulli model's").format(caption=caption)
    st.caption(caption)
    image_pairs(x, r.x_hat, [_("#{index} · label {label}").format(index=int(i), label=_(split.class_names[int(split.y[i])]))
                             for i in idx],
                [score.format(nats=v) for v in r.neg_elbo.tolist()])
    st.session_state["recon_grid"] = r.x_hat


@st.cache_data(show_spinner=lazy("Reading your images…"), max_entries=256)
def prepare_upload(data: bytes, size: int, lang: str) -> uploads.Upload:
    """The model input and a preview, or what is wrong with the file (in `lang`): once per file, not per rerun."""
    with i18n.speaking(lang):
        return uploads.read_upload(data, size)


def show_problem(name: str, problem: str) -> None:
    st.error(_("**{name}**: {problem}").format(name=name, problem=problem), icon=":material/error:")


def show_user_image(name: str, x: torch.Tensor, raw_preview=None) -> None:
    """One user image: as sent, the preprocessed input (1, H, W), the reconstruction, its code and score.

    `name`: the file's name, or DRAWING; its code is kept under it, and it is shown translated."""
    r = vae.latent.reconstruct(sel.model, x[None], labels=user_label())
    remember_code(name, r.mu[0])
    name = _(name) if name == DRAWING else name
    cols = st.columns([1, 1, 1, 2])
    if raw_preview is not None:
        show(cols[0], raw_preview, caption=_("as sent"), width=112)
    for col, img, caption in ((cols[1], x[None], _("model input")), (cols[2], r.x_hat, _("reconstruction"))):
        with col:
            show_images(img, captions=[caption], width=112, scale=4)
    mu = ", ".join(f"{v:+.2f}" for v in r.mu[0].tolist()[:8])
    sd = ", ".join(f"{v:.2f}" for v in r.std[0].tolist()[:8])
    more = " …" if sel.config.latent_dim > 8 else ""
    if not sel.config.variational:
        cols[3].markdown(_("**{name}**  \nz = ({mu}{more})  \nreconstruction **{recon:.1f}** nats "
                           "(a plain autoencoder: one code, no σ, no KL)")
                         .format(name=name, mu=mu, more=more, recon=r.recon.item()))
        return
    cols[3].markdown(_("**{name}**  \nμ = ({mu}{more})  \nσ = ({sd}{more})  \n−ELBO **{neg_elbo:.1f}** nats "
                       "(reconstruction {recon:.1f} + KL {kl:.2f})")
                     .format(name=name, mu=mu, sd=sd, more=more, neg_elbo=r.neg_elbo.item(), recon=r.recon.item(),
                             kl=r.kl.item()))


with tab_upload:
    st.markdown(_("Photograph or scan a digit you wrote (dark ink on light paper is fine). Each image is turned "
                  "into an MNIST-style {h}x{w} input: greyscale, inverted, cropped to the ink, scaled and centred.")
                .format(h=h, w=w))
    files = st.file_uploader(_("Digit images"), type=uploads.UPLOAD_TYPES, accept_multiple_files=True, key="uploads")
    for f in files or []:
        with st.container(border=True):
            upload = prepare_upload(f.getvalue(), h, i18n.language())
            if upload.problem:
                show_problem(f.name, upload.problem)
            else:
                show_user_image(f.name, upload.x, upload.preview)

with tab_draw:
    st.markdown(_("Draw a digit with the mouse (or a finger). It is reconstructed as you draw and appears on the "
                  "latent map."))
    left, right = st.columns([1, 2])
    with left:
        image = drawing_pad_ui("draw_canvas")
    with right:
        if image is None:
            st.info(_("The pad is empty: draw a digit on the left."))
        else:
            try:
                show_user_image(DRAWING, uploads.preprocess_image(image, size=h))
            except ValueError as e:
                show_problem(_(DRAWING), str(e))
