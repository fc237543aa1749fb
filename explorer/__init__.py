"""What the app computes, without Streamlit: figures, images, the browser decoder, training jobs,
uploads, the teaching analyses and the model registry.

Imports run one way: the pages import this package, this package imports `vae`, and `vae`
imports neither. Modules by topic:
registry (which models there are), images (uint8 grids, PNG), figures (Plotly), browser_decoder
(the decoder spec the page runs in JavaScript), decoder_state and decoder_grids (the Decoder page's
code z and its grids), uploads (a user's photo or drawing -> a model input), jobs (training in a
child process), train_form and train_progress (the Train page's checks and live view), toy (a VAE on 2-D points), holes (prior vs aggregate
posterior), maps (axes, placing new codes, ellipse subsets), anomaly, clusters, rate_distortion
(and the beta sweep), estimators (KL estimators, IWAE bounds, units), likelihoods (Bernoulli
against Gaussian decoders), inference and inference_figures (one image's posterior and the
amortisation and approximation gaps), gradients (score-function against pathwise gradients), kl_comparison (what the KL buys: a VAE beside its
plain-autoencoder twin).
"""
