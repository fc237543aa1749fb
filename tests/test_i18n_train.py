"""The Train page and the β & rate–distortion page in 简体中文: no English left in what they show, in their
main states: the settings (their options' names), refusals, a run training live, stopped and shown after
its end; the rate–distortion plot's two decoders, a learned prior, a β sweep running, stopped and reported.
Jobs train in a thread here (quick); the messages a job makes (in its thread or its child process, before
the reader's language is known) are checked in Chinese, and across a pickle, below."""

from __future__ import annotations

import dataclasses
import functools
import pickle

import pytest
from apptest import select_model

from explorer import i18n, job_worker, jobs, rate_distortion, train_form, train_progress
from explorer.i18n import N_
from explorer.jobs import Message, shown
from tests.i18n_check import assert_chinese, english_sentences, open_in_chinese
from vae.config import TrainConfig, VAEConfig

pytestmark = pytest.mark.slow

TRAIN, RD = "pages/build/train.py", "pages/explore/rate_distortion.py"


@pytest.fixture
def in_thread(monkeypatch):
    """The pages' jobs train in a thread of this process (no child process to start), a sweep's models tiny."""
    monkeypatch.setattr(train_form, "TrainingJob", functools.partial(jobs.TrainingJob, isolate=False))
    monkeypatch.setattr(rate_distortion, "SweepJob", functools.partial(jobs.SweepJob, isolate=False))
    tiny = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,))
    monkeypatch.setattr(rate_distortion, "sweep_job", functools.partial(rate_distortion.sweep_job, config=tiny))


def assert_no_english(*texts: str) -> None:
    left = [s for t in texts for s in english_sentences(t)]
    assert not left, (left, texts)


def start(at, widgets: dict[tuple[str, str], object]) -> None:
    """Set the widgets ((kind, key) -> value) and press Start training."""
    for (kind, key), value in widgets.items():
        getattr(at, kind)(key=key).set_value(value)
    at.button(key="train_start").click().run()


def test_the_train_page_in_chinese_from_the_settings_to_a_stopped_run(monkeypatch, tmp_path, in_thread):
    with i18n.speaking("zh"):  # AppTest formats a widget's value with its format_func here: in Chinese too
        at = open_in_chinese(TRAIN, monkeypatch, tmp_path)
        assert_chinese(at)
        assert at.title[0].value == "训练模型" and at.radio(key="train_arch").options == ["MLP", "CNN"]
        assert at.selectbox(key="train_likelihood").options == ["伯努利", "高斯"]
        at.button(key="train_quick").click().run()  # the dataset picker on MNIST, with its note
        assert_chinese(at)
        assert at.selectbox(key="train_dataset").value == "mnist"  # the value the config takes, not its name

        start(at, {("selectbox", "train_dataset"): "digits", ("radio", "train_arch"): "conv",
                     ("text_input", "train_hidden"): "32,64"})
        assert_chinese(at)
        assert any("CNN 结构需要 28×28" in e.value for e in at.error)
        start(at, {("radio", "train_arch"): "mlp", ("text_input", "train_hidden"): "32",
                     ("text_input", "train_name"): "../x"})
        assert any("无效的模型名称" in e.value for e in at.error) and "train_job" not in at.session_state
        assert_chinese(at)

        start(at, {("text_input", "train_name"): "zh-run", ("number_input", "train_epochs"): 500})
        job = at.session_state["train_job"]
        while not job.snapshot().history:  # one epoch to show, and to save
            assert not job.join(0.05), job.snapshot().message
        at.run()  # the live view: progress, curves, reconstructions, the latent map
        assert_chinese(at)
        assert "轮" in at.get("progress")[0].proto.text and "Epoch" not in at.get("progress")[0].proto.text
        at.button(key="train_stop").click().run()
        assert job.join(60)
        at.run()  # the end: how it went, the model picked, its map over the epochs and its curves
        assert_chinese(at)
        (end,) = at.warning
        assert end.value.startswith("**zh-run**：训练完 500 轮中的") and "已在侧边栏中选中" in end.value
        assert_no_english(end.value)
        assert any(h.value == "zh-run 的训练过程" for h in at.subheader)
        (row,) = [h for h in at.get("html") if "<figcaption" in h.proto.body]
        assert "上：测试图像" in row.proto.body


def test_the_rate_distortion_page_in_chinese_with_both_decoders_a_learned_prior_and_a_stopped_sweep(
        monkeypatch, tmp_path, in_thread):
    with i18n.speaking("zh"):  # AppTest formats a widget's value with its format_func here: in Chinese too
        at = open_in_chinese(RD, monkeypatch, tmp_path)
        assert_chinese(at)
        assert at.radio(key="rd_likelihood").options == ["伯努利", "高斯"]
        assert {"模型", "码率 R（KL）", "失真 D", "类别"} <= set(at.dataframe[0].value.columns)
        at.radio(key="rd_likelihood").set_value("gaussian").run()
        assert_chinese(at)
        select_model(at, "mnist-mog-z2")  # a learned prior: its bars measure against N(0, 1)
        assert_chinese(at)
        at.multiselect(key="rd_sweep_betas").set_value([]).run()  # no β: the sweep asks for one
        assert_chinese(at)
        assert at.multiselect(key="rd_sweep_betas").placeholder == "请选择"
        at.multiselect(key="rd_sweep_betas").set_value([1.0, 2.0])
        at.slider(key="rd_sweep_epochs").set_value(10).run()  # Run β sweep enabled again
        at.button(key="rd_sweep_run").click().run()
        job = at.session_state["rd_sweep_job"]
        while not job.snapshot().history:  # one epoch of the first model, to save
            assert not job.join(0.05), job.snapshot().message
        at.run()  # the sweep's progress and its Stop
        assert_chinese(at)
        assert at.get("progress")[0].proto.text.startswith("第 1/2 个模型（β = 1）")
        at.button(key="rd_sweep_stop").click().run()
        assert job.join(60)
        at.run()
        assert_chinese(at)
        (report,) = at.warning  # one model saved, the other skipped
        assert report.value.startswith("β 扫描完成") and "跳过了 digits-sweep-beta2" in report.value
        assert_no_english(report.value)


def test_a_jobs_messages_are_said_in_the_readers_language_when_shown(tmp_path):
    # A real divergence: vae.train's English is read back into a message with fields.
    job = jobs.TrainingJob("tiny", "digits", VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(32,)),
                           TrainConfig(epochs=2, lr=1e25, schedule="constant", grad_clip=None), tmp_path, isolate=False)
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "diverged" and isinstance(snap.message, Message)
    assert snap.message.fields["error"].msgid.startswith("training diverged in epoch")  # the pattern still matches
    with i18n.speaking("zh"):
        assert "发散" in shown(snap.message)
        assert_no_english(shown(snap.message), train_progress.outcome(snap).text, train_progress.progress_text(snap))

    # A sweep's summary, across the child process's pipe (a pickle).
    summary = Message.join([
        Message(N_("saved {n} of {total} models ({names})"), n=1, total=3, names="b0.5"),
        Message(N_("{name}: {message}"), name="b8", message=job_worker.diverged(
            "training diverged in epoch 1, step 3: the loss became nan (learning rate 0.1 is probably too high); "
            "the model keeps the weights of the last finished epoch (0)")),
        Message(N_("skipped {names}"), names="b1, b2"),
    ])
    again = pickle.loads(pickle.dumps(summary))
    assert again == summary and str(again).endswith("; skipped b1, b2")  # the English, as it was
    outcome = jobs.RunOutcome("b0.5", 0.5, "stopped", again, None, 1.0, 3, None)
    sweep = dataclasses.replace(rate_distortion.sweep_job([0.5, 4.0], 10, tmp_path).snapshot(), message=again,
                                state="stopped", outcomes=(outcome,), stop_requested=True, steps_per_epoch=0)
    with i18n.speaking("zh"):
        said = shown(again)
        assert said.startswith("保存了 3 个模型中的 1 个（b0.5）；b8：训练在第 1 轮第 3 步发散") and "。；" not in said
        assert_no_english(said, rate_distortion.sweep_report(sweep), rate_distortion.sweep_progress_text(sweep),
                          train_progress.progress_text(sweep))
