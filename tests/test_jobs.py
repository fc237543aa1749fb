"""Background training jobs: complete, stop, diverge, fail cleanly, run side by side, and train
several models in one job (a sweep)."""

import numpy as np
import pytest
import torch

import vae.model
import vae.train
from vae.checkpoint import load_card, load_model
from vae.config import TrainConfig, VAEConfig
from vae.data import image_shape
from explorer.jobs import SweepJob, TrainingJob, is_training
from vae.train import TrainingDiverged, fit
from explorer import job_worker, jobs

pytestmark = pytest.mark.slow

CFG = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))
TIMEOUT = 120  # seconds; a tiny job takes well under one on an idle machine


def _job(tmp_path, name="tiny", epochs=2, **train):
    """A job in a thread (quick, and monkeypatches reach it); the tests that build TrainingJob
    directly use the default, a child process (more in test_faults.py)."""
    return TrainingJob(name, "digits", CFG, TrainConfig(epochs=epochs, batch_size=64, **train), tmp_path, isolate=False)


def _run(job):
    job.start()
    assert job.join(TIMEOUT), "the training thread did not finish"
    return job.snapshot()


def test_a_job_trains_saves_a_loadable_model_and_reports_progress(tmp_path):
    snap = _run(_job(tmp_path, epochs=3))
    assert snap.state == "done" and snap.finished and not snap.running
    assert snap.progress == 1.0 and snap.epoch == 3 and snap.steps_per_epoch == 23  # 1,437 images / 64
    assert "saved as tiny" in snap.message
    assert [r["epoch"] for r in snap.history] == [1, 2, 3]
    assert snap.recon.shape == (2, jobs.N_RECON, 8, 8) and snap.recon.dtype == np.uint8
    assert not snap.recon.flags.writeable
    assert snap.saved_path == tmp_path / "tiny" and snap.elapsed > 0

    model, card = load_model(snap.saved_path)
    assert card.status == "complete" and card.dataset == "digits" and card.name == "tiny"
    assert [r["epoch"] for r in card.history] == [1, 2, 3]
    assert card.metrics.neg_elbo > 0 and card.train_config.epochs == 3
    assert model.config == CFG


def test_snapshots_are_copies(tmp_path):
    job = _job(tmp_path)
    snap = _run(job)
    snap.history[0]["epoch"] = 99
    assert job.snapshot().history[0]["epoch"] == 1


def test_stop_mid_run_saves_the_last_finished_epoch(tmp_path):
    job = _job(tmp_path, epochs=500)
    job.start()
    for _ in range(TIMEOUT * 20):
        if len(job.snapshot().history) >= 2:
            break
        job.join(0.05)
    job.stop()
    assert job.join(TIMEOUT)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.stop_requested
    n = len(snap.history)
    assert 2 <= n < 500 and f"stopped after {n} of 500 epochs" in snap.message
    card = load_card(snap.saved_path)
    assert card.status == "stopped" and len(card.history) == n  # the model matches its history
    load_model(snap.saved_path)


def test_stop_in_a_child_process_lands_at_the_next_step_not_epochs_later(tmp_path):
    # The default job: a child process, told over a pipe. What it saves is the epochs finished when Stop
    # reached the job, or one more if an epoch ended while the request travelled down the pipe.
    job = TrainingJob("child-stop", "digits", CFG, TrainConfig(epochs=500, batch_size=16), tmp_path).start()
    for _ in range(TIMEOUT * 20):
        if len(job.snapshot().history) >= 2:
            break
        job.join(0.05)
    assert job.snapshot().stop_epochs is None
    job.stop()
    asked = job.snapshot().stop_epochs
    assert job.join(TIMEOUT)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.stop_epochs == asked >= 2
    assert asked <= len(snap.history) <= asked + 1 and len(load_card(snap.saved_path).history) == len(snap.history)


def test_stop_before_the_first_epoch_saves_nothing(tmp_path):
    job = _job(tmp_path)
    job.stop()  # fit's first on_step sees the request
    snap = _run(job)
    assert snap.state == "stopped" and snap.saved_path is None
    assert "nothing was saved" in snap.message
    assert not (tmp_path / "tiny").exists()


def test_a_huge_learning_rate_diverges_with_an_explanation(tmp_path):
    snap = _run(_job(tmp_path, lr=1e25, schedule="constant", grad_clip=None))
    assert snap.state == "diverged"
    assert "diverged" in snap.message and "learning rate" in snap.message
    assert snap.saved_path is None and "nothing was saved" in snap.message
    assert not (tmp_path / "tiny").exists()


def test_divergence_after_an_epoch_saves_the_last_good_epoch(tmp_path, monkeypatch):
    def fit_then_diverge(model, train, test, cfg, on_epoch=None, on_step=None, **labels):
        history = fit(model, train, test, TrainConfig(epochs=1, batch_size=cfg.batch_size), on_epoch=on_epoch).history
        raise TrainingDiverged("training diverged in epoch 2, step 1: the loss became nan", history)

    monkeypatch.setattr(vae.train, "fit", fit_then_diverge)
    snap = _run(_job(tmp_path, epochs=5))
    assert snap.state == "diverged" and "diverged in epoch 2" in snap.message and "last good epoch (1)" in snap.message
    card = load_card(snap.saved_path)
    assert card.status == "diverged" and len(card.history) == 1


@pytest.mark.parametrize("name", ["../x", "", ".hidden", "a/b", "x" * 65])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="invalid model name"):
        _job(tmp_path, name=name)


def test_an_existing_name_needs_overwrite(tmp_path):
    (tmp_path / "tiny").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        _job(tmp_path)
    job = TrainingJob("tiny", "digits", CFG, TrainConfig(epochs=1), tmp_path, overwrite=True)
    assert _run(job).state == "done"
    assert load_card(tmp_path / "tiny").history


def test_a_missing_dataset_fails_with_a_message_naming_it(tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("VAE_DATA_DIR", str(empty))
    cfg = VAEConfig(input_shape=image_shape("kmnist"), hidden_dims=(32,))
    job = TrainingJob("k", "kmnist", cfg, TrainConfig(epochs=1), tmp_path / "models")
    snap = _run(job)
    assert snap.state == "failed" and snap.saved_path is None
    assert "kmnist" in snap.message and "Traceback" not in snap.message
    assert not (tmp_path / "models" / "k").exists()


def test_a_config_that_does_not_fit_the_data_fails_cleanly(tmp_path):
    cfg = VAEConfig(input_shape=(1, 28, 28), hidden_dims=(32,))
    snap = _run(TrainingJob("wrong", "digits", cfg, TrainConfig(epochs=1), tmp_path))
    assert snap.state == "failed" and "(1, 8, 8)" in snap.message


def test_two_jobs_in_parallel_both_finish_intact(tmp_path):
    a = _job(tmp_path, name="a", epochs=3).start()
    b = _job(tmp_path, name="b", epochs=2, seed=1).start()
    assert a.join(TIMEOUT) and b.join(TIMEOUT)
    for job, epochs in ((a, 3), (b, 2)):
        snap = job.snapshot()
        assert snap.state == "done", snap.message
        model, card = load_model(tmp_path / job.name)
        assert card.name == job.name and [r["epoch"] for r in card.history] == list(range(1, epochs + 1))
        assert list(card.history) == list(snap.history)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left behind


def test_the_same_seed_gives_the_same_model_even_in_parallel(tmp_path):
    jobs = [_job(tmp_path, name=f"s{i}", epochs=1).start() for i in range(2)]
    assert all(j.join(TIMEOUT) for j in jobs)
    (m0, _), (m1, _) = (load_model(tmp_path / j.name) for j in jobs)
    for p0, p1 in zip(m0.parameters(), m1.parameters()):
        assert np.allclose(p0.detach().numpy(), p1.detach().numpy(), atol=1e-5)


def test_image_shape():
    assert image_shape("digits") == (1, 8, 8) and image_shape("mnist") == (1, 28, 28)
    with pytest.raises(ValueError, match="unknown dataset"):
        image_shape("cifar")


def test_a_path_being_trained_into_is_refused_until_the_job_ends(tmp_path):
    first = _job(tmp_path, name="busy", epochs=500).start()
    try:
        assert is_training(tmp_path / "busy")
        second = TrainingJob("busy", "digits", CFG, TrainConfig(epochs=1), tmp_path, overwrite=True)
        with pytest.raises(ValueError, match="being trained right now"):
            second.start()
    finally:
        first.stop()
        assert first.join(TIMEOUT)
    assert not is_training(tmp_path / "busy")
    assert _run(TrainingJob("busy", "digits", CFG, TrainConfig(epochs=1), tmp_path, overwrite=True)).state == "done"


def test_interpreter_exit_stops_running_jobs_and_they_save(tmp_path):
    job = _job(tmp_path, name="exiting", epochs=500).start()
    while not job.snapshot().history:
        assert not job.join(0.05), job.snapshot().message
    jobs._stop_all_at_exit()  # what atexit runs
    snap = job.snapshot()
    assert snap.state == "stopped" and load_card(tmp_path / "exiting").status == "stopped"


def test_a_conditional_job_trains_on_labels_and_saves_a_conditional_model(tmp_path):
    cfg = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,), n_classes=10, prior="mog", prior_components=3)
    snap = _run(TrainingJob("cvae", "digits", cfg, TrainConfig(epochs=2, batch_size=64), tmp_path))
    assert snap.state == "done", snap.message
    model, card = load_model(snap.saved_path)
    assert model.config == cfg and card.metrics.neg_elbo > 0
    assert snap.recon.shape == (2, jobs.N_RECON, 8, 8)


# --- several models in one job (SweepJob: the β sweep's runner) ------------------------------------


def _sweep(tmp_path, betas, epochs=2, isolate=False, **job):
    """A job of one model per beta, named b<beta>, in the given order."""
    runs = [(f"b{beta:g}", TrainConfig(epochs=epochs, batch_size=64, beta=beta)) for beta in betas]
    return SweepJob(runs, "digits", CFG, tmp_path, isolate=isolate, trained_in="beta sweep", **job)


def _watch(job):
    """Start the job and snapshot it until it ends; returns the snapshots, the last one final."""
    job.start()
    seen = [job.snapshot()]
    for _ in range(TIMEOUT * 100):
        if job.join(0.01):
            break
        seen.append(job.snapshot())
    assert job.join(0), "the sweep did not finish"
    return seen + [job.snapshot()]


def test_a_sweep_trains_its_models_in_order_and_saves_each_with_its_beta(tmp_path):
    seen = _watch(_sweep(tmp_path, [2.0, 0.5, 1.0]))
    snap = seen[-1]
    assert snap.state == "done" and snap.runs == 3 and snap.progress == 1.0, snap.message
    assert [(o.name, o.beta, o.state, o.epochs) for o in snap.outcomes] == [
        ("b2", 2.0, "done", 2), ("b0.5", 0.5, "done", 2), ("b1", 1.0, "done", 2)]
    assert snap.message == "trained 3 models; saved as b2, b0.5, b1"
    assert snap.saved_path == tmp_path / "b1"  # the latest saved
    for o in snap.outcomes:
        card = load_card(o.saved_path)
        assert card.beta == o.beta and card.trained_in == "beta sweep" and card.status == "complete"
        assert card.metrics.kl == o.metrics.kl and [r["epoch"] for r in card.history] == [1, 2]
    # The snapshots follow the models in order, and the whole sweep's progress never goes back.
    runs = [s.run for s in seen]
    progress = [s.progress for s in seen]
    assert runs == sorted(runs) and set(runs) == {0, 1, 2}
    assert progress == sorted(progress) and 0.0 <= progress[0] < 1 / 3 < progress[-1] == 1.0
    assert all(s.beta == (2.0, 0.5, 1.0)[s.run] and s.name == ("b2", "b0.5", "b1")[s.run] for s in seen)
    assert all(len(s.outcomes) in (s.run, s.run + 1) for s in seen)  # finished models, listed as they end
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b0.5", "b1", "b2"]  # no temporary folders left


def test_every_model_of_a_sweep_starts_from_the_same_weights(tmp_path, monkeypatch):
    initial = []

    def recording_build_model(config, seed):
        model = vae.model.build_model(config, seed)
        initial.append({k: v.clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(job_worker, "build_model", recording_build_model)
    snap = _watch(_sweep(tmp_path, [0.5, 4.0], epochs=1))[-1]
    assert snap.state == "done" and len(initial) == 2
    assert all(torch.equal(initial[0][k], initial[1][k]) for k in initial[0])
    (m0, _), (m1, _) = (load_model(o.saved_path) for o in snap.outcomes)
    assert any(not torch.equal(a, b) for a, b in zip(m0.state_dict().values(), m1.state_dict().values()))  # β differs


def test_stopping_a_sweep_keeps_the_finished_epochs_and_skips_the_rest(tmp_path):
    job = _sweep(tmp_path, [0.5, 1.0, 2.0], epochs=500).start()
    while len(job.snapshot().history) < 2:
        assert not job.join(0.05), job.snapshot().message
    job.stop()
    assert job.join(TIMEOUT)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.stop_requested and snap.run == 0 and snap.progress < 1 / 3
    (first,) = snap.outcomes
    assert first.state == "stopped" and 2 <= first.epochs < 500 and first.saved_path == tmp_path / "b0.5"
    card = load_card(first.saved_path)
    assert card.status == "stopped" and len(card.history) == first.epochs
    load_model(first.saved_path)
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()
    assert "saved 1 of 3 models (b0.5)" in snap.message and snap.message.endswith("skipped b1, b2")


def test_a_diverging_model_is_reported_and_the_others_are_still_trained(tmp_path, monkeypatch):
    real_fit = fit

    def fit_diverging_at_beta_8(model, train, test, cfg, **kw):
        if cfg.beta == 8.0:
            raise TrainingDiverged("training diverged in epoch 1, step 3: the loss became nan", [])
        return real_fit(model, train, test, cfg, **kw)

    monkeypatch.setattr(vae.train, "fit", fit_diverging_at_beta_8)
    snap = _watch(_sweep(tmp_path, [0.5, 8.0, 2.0], epochs=1))[-1]
    assert [(o.name, o.state) for o in snap.outcomes] == [("b0.5", "done"), ("b8", "diverged"), ("b2", "done")]
    assert snap.state == "diverged" and snap.progress == 1.0
    assert "saved 2 of 3 models (b0.5, b2)" in snap.message and "b8: training diverged in epoch 1" in snap.message
    assert snap.outcomes[1].saved_path is None and not (tmp_path / "b8").exists()
    assert load_card(tmp_path / "b2").beta == 2.0


def test_a_sweep_holds_every_path_it_trains_into_until_it_ends(tmp_path):
    job = _sweep(tmp_path, [0.5, 1.0], epochs=500).start()
    try:
        assert is_training(tmp_path / "b0.5") and is_training(tmp_path / "b1")
        with pytest.raises(ValueError, match="'b1' is being trained right now; choose another name"):
            TrainingJob("b1", "digits", CFG, TrainConfig(epochs=1), tmp_path, overwrite=True).start()
        with pytest.raises(ValueError, match="'b0.5' is being trained right now; try again when that training ends"):
            _sweep(tmp_path, [0.5, 2.0]).start()  # a second sweep into the same folder, from another session
    finally:
        job.stop()
        assert job.join(TIMEOUT)
    assert not is_training(tmp_path / "b0.5") and not is_training(tmp_path / "b1")


def test_a_sweep_refuses_repeated_names_and_needs_a_model(tmp_path):
    with pytest.raises(ValueError, match="cannot share a name"):
        _sweep(tmp_path, [1.0, 1.0])
    with pytest.raises(ValueError, match="at least one model"):
        SweepJob([], "digits", CFG, tmp_path)
    (tmp_path / "b1").mkdir()
    _sweep(tmp_path, [1.0])  # a sweep replaces its earlier models by default
    with pytest.raises(ValueError, match="already exists"):
        _sweep(tmp_path, [1.0], overwrite=False)


def test_a_sweep_in_a_child_process_trains_and_saves_every_model(tmp_path):
    seen = _watch(_sweep(tmp_path, [0.5, 4.0], epochs=2, isolate=True))
    snap = seen[-1]
    assert snap.state == "done" and [o.name for o in snap.outcomes] == ["b0.5", "b4"], snap.message
    assert [load_card(tmp_path / n).beta for n in ("b0.5", "b4")] == [0.5, 4.0]
    assert snap.outcomes[0].metrics.kl > snap.outcomes[1].metrics.kl  # a larger β buys a lower rate
    progress = [s.progress for s in seen]
    assert progress == sorted(progress) and {s.run for s in seen} == {0, 1}


# --- the server-wide registry: a reloaded page (a new session) finds its run again -------------------

def test_running_jobs_are_found_by_path_while_they_run_and_a_while_after(tmp_path):
    job = _job(tmp_path, name="found", epochs=500).start()
    try:
        assert jobs.find_job(tmp_path / "found") is job and jobs.find_job(str(tmp_path / "." / "found")) is job
        assert job in jobs.running_jobs() and jobs.find_job(tmp_path / "other") is None
    finally:
        job.stop()
        assert job.join(TIMEOUT)
    assert job not in jobs.running_jobs()
    assert jobs.find_job(tmp_path / "found") is job  # finished, still findable: a reload just after the end


def test_only_the_latest_finished_jobs_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "RECENT_JOBS", 2)
    done = [_run(_job(tmp_path, name=f"r{i}", epochs=1)) and None for i in range(3)]
    assert done == [None] * 3
    assert jobs.find_job(tmp_path / "r0") is None
    assert [jobs.find_job(tmp_path / f"r{i}").name for i in (1, 2)] == ["r1", "r2"]


# --- the latent map of a 2-D model, epoch by epoch ---------------------------------------------------

def test_a_2d_model_reports_the_codes_of_fixed_test_images_after_every_epoch(tmp_path):
    snap = _run(_job(tmp_path, epochs=3))
    assert [e for e, _ in snap.map_frames] == [1, 2, 3]
    test = vae.data.load_dataset("digits", "test")
    n = min(jobs.MAP_CODES, len(test))
    assert snap.map_labels.shape == (n,) and list(snap.map_labels) == test.y[:n].tolist()  # all 360, in order
    for _, codes in snap.map_frames:
        assert codes.shape == (n, 2) and codes.dtype == np.float16 and not codes.flags.writeable
        assert codes.nbytes <= 4 * jobs.MAP_CODES  # 4 kB an epoch at most
    model, _ = load_model(tmp_path / "tiny")  # the last frame is the saved model's means
    mu = model.encode(test.x[:n]).mu.detach().numpy()
    assert np.allclose(snap.map_frames[-1][1], mu, atol=2e-2)
    assert not np.allclose(snap.map_frames[0][1], snap.map_frames[-1][1], atol=1e-3)  # the map moves


def test_a_model_with_more_latent_dimensions_sends_no_map(tmp_path):
    cfg = VAEConfig(input_shape=(1, 8, 8), latent_dim=3, hidden_dims=(32,))
    snap = _run(TrainingJob("z3", "digits", cfg, TrainConfig(epochs=1, batch_size=64), tmp_path, isolate=False))
    assert snap.state == "done" and snap.map_frames == () and snap.map_labels is None


def test_a_long_run_keeps_at_most_max_map_frames_the_first_and_the_latest_among_them(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_MAP_FRAMES", 4)
    epochs = [e for e, _ in _run(_job(tmp_path, epochs=7)).map_frames]
    assert len(epochs) <= 4 and epochs[0] == 1 and epochs[-1] == 7 and epochs == sorted(epochs)


# --- the child's reports and its stop ---------------------------------------------------------------

@pytest.fixture
def pipe_sink():
    """A `_PipeSink` on in-process pipes: (sink, down (the job's end, to send "stop"), up (reports))."""
    import signal
    from multiprocessing import Pipe

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    down_read, down_write = Pipe(duplex=False)
    up_read, up_write = Pipe(duplex=False)
    try:
        yield job_worker._PipeSink(down_read, up_write), down_write, up_read
    finally:
        for sig, handler in handlers.items():  # the sink treats Ctrl-C as Stop: give this process its own back
            signal.signal(sig, handler)


def _drain(up):
    out = []
    while up.poll():
        out.append(up.recv())
    return out


def test_the_child_asks_at_every_step_and_says_at_once_where_the_stop_landed(pipe_sink):
    sink, down, up = pipe_sink
    for step in range(1, 6):
        sink._set(epoch=3, step=step, steps_per_epoch=23)
        assert not sink._stopped()
    down.send("stop")  # the user pressed Stop during step 6
    sink._set(epoch=3, step=6, steps_per_epoch=23)
    assert sink._stopped()  # this very step ends the run
    kind, (_, _, changes) = _drain(up)[-1]
    assert kind == "report" and changes == {"epoch": 3, "step": 6, "steps_per_epoch": 23}


def test_many_tiny_epochs_go_up_in_a_few_reports_and_none_is_lost(pipe_sink, tmp_path):
    """One message per epoch piled up in the pipe faster than a busy server read it: the page then
    showed an epoch a dozen behind the child's, and Stop seemed to land late."""
    sink, _, up = pipe_sink
    recon = np.zeros((2, jobs.N_RECON, 8, 8), np.uint8)
    for epoch in range(1, 51):
        sink._set(epoch=epoch, step=23, steps_per_epoch=23)
        sink._epoch({"epoch": epoch}, recon, np.full((4, 2), epoch, np.float16))
    sink._finish("done", "trained 50 epochs")
    reports = _drain(up)
    assert len(reports) <= 5 and reports[-1] == ("finish", ("done", "trained 50 epochs"))
    job = _job(tmp_path, epochs=50)
    for kind, payload in reports[:-1]:
        getattr(job, f"_{kind}")(*payload)
    snap = job.snapshot()
    assert [r["epoch"] for r in snap.history] == list(range(1, 51)) and snap.epoch == 50
    assert [(e, float(c[0, 0])) for e, c in snap.map_frames] == [(e, float(e)) for e in range(1, 51)]


def test_a_stop_in_a_job_process_lands_within_two_steps_of_where_the_page_saw_it(tmp_path):
    """What Stop does in the app: the job's process trains, the page reads snapshots and asks to stop."""
    cfg = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(2048, 2048))  # ~40 ms a step: measurable
    job = TrainingJob("slow", "digits", cfg, TrainConfig(epochs=50, batch_size=64), tmp_path).start()
    while not job.snapshot().history:  # one finished epoch, so there is something to save
        assert not job.join(0.01), job.snapshot().message
    seen = job.snapshot()
    while (now := job.snapshot()).step == seen.step:  # a fresh report: the child is at most a step past it
        assert not job.join(0.001), now.message
    job.stop()
    assert job.join(TIMEOUT)
    end = job.snapshot()
    spe = end.steps_per_epoch

    def step_number(snap):
        return (snap.epoch - 1) * spe + snap.step

    assert end.state == "stopped" and 0 <= step_number(end) - step_number(now) <= 2, (now, end.epoch, end.step)
    n = len(end.history)
    assert n == end.epoch - 1 and f"stopped after {n} of 50 epochs" in end.message
    assert len(load_card(tmp_path / "slow").history) == n and [e for e, _ in end.map_frames] == list(range(1, n + 1))


def test_a_job_alone_spins_briefly_and_one_beside_another_waits_passively(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as the app sets it for the server
    alone, beside = jobs._child_env(alone=True), jobs._child_env(alone=False)
    assert "OMP_WAIT_POLICY" not in alone and alone["GOMP_SPINCOUNT"] == jobs.GOMP_SPINCOUNT  # PASSIVE would win
    assert beside["OMP_WAIT_POLICY"] == "PASSIVE"
