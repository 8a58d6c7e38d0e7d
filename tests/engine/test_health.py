"""Health probes against the provider simulator: each error kind, wrong base URLs,
missing models, deep checks, and the background monitor (schedule, jitter, backoff,
re-probe on demand, real traffic) driven by a controllable clock instead of sleeps."""

from __future__ import annotations

import asyncio

import pytest

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.engine.events import AnswerDelta
from desktop.engine.health import (
    HealthMonitor,
    HealthReport,
    probe_all,
    probe_provider,
    skip_info,
    status_for,
    url_alternatives,
)
from desktop.terminal import fix_text
from tests.engine._health_support import FakeClock, Reports, free_port, heng, keys, unreachable  # noqa: F401
from tests.simulator import Fault


def chat_requests(sim):
    return [r for r in sim.requests if r.path.endswith(("/chat/completions", "/messages", "/api/chat"))]


# --- one probe ------------------------------------------------------------------------------


async def test_healthy_providers_report_ok_with_latency_and_model_count(heng, sim):
    reports = {r.name: r for r in await probe_all(heng)}
    assert set(reports) == {"work", "ollama", "lmstudio"}
    work, ollama = reports["work"], reports["ollama"]
    assert work.status == "ok" and work.models == 2 and work.latency_ms is not None
    assert work.last_success is not None and work.error_kind is None and not fix_text(work.fix)
    assert ollama.status == "ok" and ollama.version == sim.ollama_version and ollama.local
    assert "Ollama" in ollama.explanation and "2 models" in ollama.explanation
    d = work.to_dict()
    for key in ("name", "kind", "status", "latency_ms", "last_success", "explanation", "fix", "error_kind", "models"):
        assert key in d
    assert d["last_success"].endswith("+00:00")


async def test_a_probe_never_spends_money(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2"))
    await probe_all(heng)
    assert chat_requests(sim) == []
    assert sim.usage_log == []


async def test_rejected_key_is_auth_invalid_not_unreachable(heng, sim, keys):
    keys.set("work", "sk-wrong-key")
    report, models = await probe_provider(heng, "work")
    assert models is None
    assert report.status == "misconfigured" and report.error_kind == "auth_invalid"
    assert "key" in report.explanation.lower() and fix_text(report.fix)
    assert "sk-wrong-key" not in repr(report.to_dict())


async def test_unreachable_host_is_told_apart_from_a_rejected_key(heng, sim):
    heng.store.add_provider("gone", "openai-compatible", f"http://127.0.0.1:{free_port()}/v1")
    report, _ = await probe_provider(heng, "gone")
    assert report.status == "down" and report.error_kind == "unreachable"


async def test_missing_key_is_misconfigured(heng, sim):
    heng.store.add_provider("nokey", "anthropic", sim.anthropic_url)
    report, _ = await probe_provider(heng, "nokey")
    assert report.status == "misconfigured" and report.error_kind == "misconfigured"
    assert "key" in report.explanation.lower()


async def test_unknown_provider_name_is_misconfigured(heng):
    [report] = await probe_all(heng, only="nosuch")
    assert report.status == "misconfigured" and "nosuch" in report.explanation
    assert "providers add" in fix_text(report.fix)


async def test_stopped_ollama_says_unreachable_and_how_to_start_it(heng, sim):
    sim.stop()
    [report] = await probe_all(heng, only="ollama")
    assert report.status == "down" and report.error_kind == "unreachable"
    assert "isn't running" in report.explanation
    assert "ollama serve" in fix_text(report.fix)


@pytest.mark.parametrize(
    "fault, status, kind",
    [
        (Fault("rate_limited", protocol="openai", endpoint="models", retry_after=7), "degraded", "rate_limited"),
        (Fault("overloaded", protocol="openai", endpoint="models"), "degraded", "overloaded"),
        (Fault("server_error", protocol="openai", endpoint="models"), "degraded", "server_error"),
        (Fault("server_error_html", protocol="openai", endpoint="models"), "degraded", "server_error"),
        (Fault("gateway_timeout", protocol="openai", endpoint="models"), "degraded", "server_error"),
        (Fault("error_in_200", protocol="openai", endpoint="models"), "degraded", "bad_response"),
        (Fault("auth_invalid", protocol="openai", endpoint="models"), "misconfigured", "auth_invalid"),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else None,
)
async def test_each_error_kind_on_the_model_list(heng, sim, fault, status, kind):
    sim.inject(fault)
    report, _ = await probe_provider(heng, "work")
    assert (report.status, report.error_kind) == (status, kind)
    assert report.explanation and fix_text(report.fix)
    assert "{" not in report.explanation  # never raw JSON
    if kind == "rate_limited":
        assert report.retry_after == 7


async def test_a_provider_failing_again_and_again_counts_as_down(heng, sim):
    sim.inject(Fault("server_error", protocol="openai", endpoint="models", times=None))
    report = None
    statuses = []
    for _ in range(3):
        report, _ = await probe_provider(heng, "work", previous=report)
        statuses.append(report.status)
    assert statuses == ["degraded", "degraded", "down"]
    sim.clear_faults()
    report, _ = await probe_provider(heng, "work", previous=report)
    assert report.status == "ok" and report.failures == 0


async def test_stalled_model_list_is_a_timeout(heng, sim):
    sim.inject(Fault("stall", protocol="openai", endpoint="models"))
    report, _ = await probe_provider(heng, "work", timeout=0.2)
    sim.release_stalls()
    assert report.status == "down" and report.error_kind == "timeout"


async def test_model_of_the_pair_not_pulled_says_ollama_pull(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "mistral-nemo"))
    [report] = await probe_all(heng, only="ollama")
    assert report.status == "degraded" and report.error_kind == "model_not_found"
    assert report.missing_models == ("mistral-nemo",)
    assert "`ollama pull mistral-nemo`" in fix_text(report.fix)
    # "llama3.2" and "llama3.2:latest" are the same Ollama model
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2"))
    [report] = await probe_all(heng, only="ollama")
    assert report.status == "ok"


async def test_model_of_the_pair_missing_on_a_cloud_provider(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-9"), ModelRef("ollama", "llama3.2"))
    report, _ = await probe_provider(heng, "work")
    assert report.status == "degraded" and report.missing_models == ("gpt-9",)
    assert "routedesk models" in fix_text(report.fix)


def test_url_alternatives():
    assert url_alternatives("http://h:1/v1/v1") == ["http://h:1/v1"]
    assert url_alternatives("http://h:1/api/v1") == ["http://h:1/api"]
    assert url_alternatives("http://h:1/api") == ["http://h:1/api/v1"]
    assert url_alternatives("http://h:1") == ["http://h:1/v1"]


async def test_doubled_v1_is_recognised_and_the_right_url_suggested(heng, sim, keys):
    heng.store.add_provider("dbl", "openai", sim.base_url + "/v1/v1")
    keys.set("dbl", "sk-test-key")
    report, _ = await probe_provider(heng, "dbl")
    assert report.status == "misconfigured" and report.error_kind == "misconfigured"
    assert report.suggested_base_url == sim.openai_url
    assert sim.openai_url in fix_text(report.fix) and "--base-url" in fix_text(report.fix)
    assert "404" in report.explanation
    assert "sk-test-key" not in repr(report.to_dict())


async def test_missing_v1_is_added_for_an_openai_compatible_server(heng, sim):
    heng.store.add_provider("lm", "openai-compatible", sim.base_url + "/lmstudio")  # stored without /v1
    report, _ = await probe_provider(heng, "lm")
    assert report.status == "ok" and report.models == 2


async def test_a_404_with_no_working_alternative_still_says_the_address_is_wrong(heng, sim):
    heng.store.add_provider("odd", "openai-compatible", sim.base_url + "/lmstudio/v0")
    report, _ = await probe_provider(heng, "odd")
    assert report.status == "misconfigured" and report.suggested_base_url is None
    assert "404" in report.explanation and "base URL" in report.explanation
    assert "/v1" in fix_text(report.fix)


async def test_wrong_url_with_a_key_the_server_rejects_is_still_recognised(heng, sim):
    heng.store.add_provider("dbl2", "openai-compatible", sim.base_url + "/v1/v1")  # no key stored
    report, _ = await probe_provider(heng, "dbl2")
    assert report.suggested_base_url == sim.openai_url


async def test_deep_check_shows_an_exhausted_quota(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-4o-mini"), ModelRef("ollama", "llama3.2"))
    sim.inject(Fault("quota_exhausted", protocol="openai"))
    shallow, _ = await probe_provider(heng, "work")
    assert shallow.status == "ok"  # the model list can't tell
    assert chat_requests(sim) == []
    deep, _ = await probe_provider(heng, "work", deep=True)
    assert deep.status == "down" and deep.error_kind == "quota_exhausted" and deep.source == "deep"
    assert "credit" in deep.explanation.lower() and "billing" in fix_text(deep.fix).lower()
    # one tiny completion: one output token at most
    [req] = [r for r in chat_requests(sim)]
    body = req.json_body
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 1


async def test_deep_check_that_works(heng, sim):
    heng.set_pair(ModelRef("work", "gpt-4o-mini"), ModelRef("ollama", "llama3.2"))
    report, _ = await probe_provider(heng, "ollama", deep=True)
    assert report.status == "ok" and "test answer" in report.explanation
    assert len(sim.usage_log) == 1 and sim.usage_log[0].output_tokens <= 1


def test_status_for_error_kinds():
    assert status_for("unreachable") == "down"
    assert status_for("auth_invalid") == "misconfigured"
    assert status_for("rate_limited") == "degraded"
    assert status_for("timeout", traffic=True) == "degraded"
    assert status_for("context_too_long", traffic=True) is None
    assert status_for("model_not_found", traffic=True) is None


def test_skip_info_names_the_model_and_the_reason():
    report = HealthReport("ollama", "ollama", status="down", explanation="Ollama isn't running on 127.0.0.1:11434.",
                          fix="Start it with `ollama serve`, or open the Ollama app.", error_kind="unreachable")
    info = skip_info(report, ModelRef("ollama", "llama3.2"))
    assert info.kind == "unreachable" and info.model == "llama3.2" and info.provider == "ollama"
    assert info.message.startswith("Skipped ollama/llama3.2: Ollama isn't running")
    assert "ollama serve" in fix_text(info.fix)


# --- the background monitor --------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def monitor(heng, clock):
    mon = HealthMonitor(heng, clock=clock, sleep=clock.sleep, wall=lambda: 1_700_000_000.0 + clock.now,
                        interval=60, local_interval=10, backoff_base=5, max_backoff=300,
                        local_max_backoff=30, jitter=0, seed=7, timeout=5)
    try:
        yield mon
    finally:
        await mon.stop()


async def start(monitor, clock):
    reports = Reports(monitor)
    monitor.start()
    first = {}
    for name in ("work", "ollama", "lmstudio"):
        first[name] = await reports.next(name)
    await monitor.wait_idle()
    return reports, first


async def test_monitor_probes_everything_at_start_then_sleeps(monitor, clock):
    reports, first = await start(monitor, clock)
    assert {n: r.status for n, r in first.items()} == {"work": "ok", "ollama": "ok", "lmstudio": "ok"}
    assert monitor.report("ollama").models == 2
    assert monitor.next_probe_in("ollama") == 10 and monitor.next_probe_in("work") == 60
    assert clock.sleeps[-1] == 10  # sleeping until the next local probe, not polling


async def test_models_pulled_or_removed_show_within_one_probe_interval(monitor, clock, sim):
    changes = []
    monitor.subscribe_models(lambda name, models: changes.append((name, sorted(m.ref.model for m in models))))
    reports, _ = await start(monitor, clock)
    changes.clear()

    sim.add_model("ollama", "phi3:mini")
    clock.advance(10)
    r = await reports.next("ollama")
    assert r.models == 3
    assert ("ollama", ["llama3.2:latest", "phi3:mini", "qwen2.5-coder:7b"]) in changes
    assert "ollama/phi3:mini" in {str(m.ref) for m in monitor.models("ollama")}

    await monitor.wait_idle()
    sim.remove_model("ollama", "llama3.2")
    clock.advance(10)
    r = await reports.next("ollama")
    assert r.models == 2
    assert changes[-1] == ("ollama", ["phi3:mini", "qwen2.5-coder:7b"])


async def test_ollama_disappearing_then_appearing_with_backoff(monitor, clock, sim):
    changes = []
    monitor.subscribe_models(lambda name, models: changes.append((name, len(models))))
    reports, _ = await start(monitor, clock)

    sim.stop()
    clock.advance(10)
    r = await reports.next("ollama")
    assert r.status == "down" and r.error_kind == "unreachable" and "ollama serve" in fix_text(r.fix)
    assert ("ollama", 0) in changes  # its models vanish with it
    assert monitor.is_down("ollama") is r

    # backoff while down: 5, 10, 20, then capped at 30 s for a local server
    waits = []
    for _ in range(4):
        waits.append(monitor.next_probe_in("ollama"))
        await monitor.wait_idle()
        clock.advance(waits[-1])
        r = await reports.next("ollama")
        assert r.status == "down"
    assert waits == [5, 10, 20, 30]
    assert monitor.next_probe_in("ollama") == 30

    sim.start()  # same port
    await monitor.wait_idle()
    clock.advance(30)
    r = await reports.next("ollama")
    assert r.status == "ok" and r.models == 2 and r.failures == 0
    assert monitor.is_down("ollama") is None
    assert monitor.next_probe_in("ollama") == 10
    assert changes[-1] == ("ollama", 2)


async def test_remote_backoff_doubles_up_to_its_cap_and_honours_retry_after(monitor, clock, sim, heng):
    # LM Studio speaks the OpenAI wire too; move it away so only "work" meets the faults
    heng.store.update_provider("lmstudio", kind="lmstudio", base_url=f"http://127.0.0.1:{free_port()}/v1")
    reports, _ = await start(monitor, clock)
    sim.inject(Fault("server_error", protocol="openai", endpoint="models", times=None))
    waits = []
    clock.advance(60)
    for _ in range(8):
        r = await reports.next("work")
        assert r.error_kind == "server_error"
        waits.append(monitor.next_probe_in("work"))
        if len(waits) < 8:
            await monitor.wait_idle()
            clock.advance(waits[-1])
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300]
    assert monitor.report("work").status == "down"  # degraded three times in a row

    sim.clear_faults()
    await monitor.wait_idle()
    clock.advance(300)
    assert (await reports.next("work")).status == "ok"
    assert monitor.next_probe_in("work") == 60

    sim.inject(Fault("rate_limited", protocol="openai", endpoint="models", retry_after=45))
    await monitor.wait_idle()
    clock.advance(60)
    r = await reports.next("work")
    assert r.error_kind == "rate_limited" and r.status == "degraded"
    assert monitor.next_probe_in("work") == 45  # not the 5 s backoff: the provider asked for 45


async def test_a_hung_provider_does_not_hold_up_the_others(monitor, clock, heng, sim):
    heng.store.update_provider("lmstudio", kind="lmstudio", base_url=f"http://127.0.0.1:{free_port()}/v1")
    reports, _ = await start(monitor, clock)
    sim.inject(Fault("stall", protocol="openai", endpoint="models", delay=None))
    clock.advance(60)  # every provider is due; OpenAI's model list hangs
    for _ in range(3):
        r = await reports.next("ollama")
        assert r.status == "ok"
        clock.advance(10)  # Ollama keeps its 10 s schedule meanwhile
    assert monitor.report("work").checked_at < monitor.report("ollama").checked_at
    sim.release_stalls()
    r = await reports.next("work")
    assert r.status == "ok"


async def test_jitter_is_seeded_and_bounded(heng):
    delays = []
    for _ in range(2):
        clock = FakeClock()
        mon = HealthMonitor(heng, clock=clock, sleep=clock.sleep, interval=60, local_interval=10,
                            jitter=0.2, seed=42)
        await mon.probe_now()
        delays.append({n: mon.next_probe_in(n) for n in ("work", "ollama")})
    assert delays[0] == delays[1]
    assert 48 <= delays[0]["work"] <= 72 and 8 <= delays[0]["ollama"] <= 12
    assert delays[0]["work"] != 60


async def test_probe_now_runs_at_once_whatever_the_schedule(monitor, clock, sim):
    reports, _ = await start(monitor, clock)
    rounds = monitor.rounds
    sim.inject(Fault("auth_invalid", protocol="openai", endpoint="models"))
    [r] = await monitor.probe_now("work")
    assert r.status == "misconfigured" and r.error_kind == "auth_invalid"
    assert monitor.rounds == rounds  # not a scheduled round
    assert monitor.next_probe_in("work") == 5
    [r] = await monitor.probe_now("work")
    assert r.status == "ok"
    assert monitor.next_probe_in("work") == 60


async def test_probe_now_joins_a_probe_already_in_flight(heng, sim):
    mon = HealthMonitor(heng, jitter=0)
    sim.inject(Fault("stall", protocol="openai", endpoint="models", delay=0.3))
    a, b = await asyncio.gather(mon.probe_now("work"), mon.probe_now("work"))
    assert a[0] is b[0] and a[0].status == "ok"
    assert len([r for r in sim.requests if r.path.endswith("/models")]) == 1


async def test_real_traffic_marks_a_provider_at_once_and_a_success_clears_it(monitor, clock):
    reports, _ = await start(monitor, clock)
    monitor.record_failure("work", unreachable("work"))
    r = await reports.next("work")
    assert r.status == "down" and r.source == "traffic" and r.error_kind == "unreachable"
    assert monitor.is_down("work") is r
    info = monitor.should_skip(ModelRef("work", "gpt-4o"))
    assert info is not None and info.message.startswith("Skipped work/gpt-4o")
    assert monitor.next_probe_in("work") == 5  # re-probed soon, not in a minute

    monitor.record_success("work", latency_ms=120.0)
    r = await reports.next("work")
    assert r.status == "ok" and r.source == "traffic" and r.last_success is not None
    assert monitor.is_down("work") is None and monitor.should_skip(ModelRef("work", "gpt-4o")) is None


async def test_traffic_errors_about_one_model_or_message_leave_the_provider_alone(monitor, clock):
    reports, _ = await start(monitor, clock)
    n = len(reports.all)
    for kind in ("model_not_found", "context_too_long", "content_filtered", "interrupted"):
        monitor.record_failure("work", ErrorInfo(kind, "x", "y", provider="work"))
    assert len(reports.all) == n and monitor.report("work").status == "ok"
    monitor.record_failure("work", ErrorInfo("timeout", "slow", "wait", provider="work"))
    assert monitor.report("work").status == "degraded" and monitor.is_down("work") is None


async def test_a_failure_from_traffic_is_rechecked_by_the_next_probe(monitor, clock):
    reports, _ = await start(monitor, clock)
    monitor.record_failure("ollama", unreachable("ollama"))
    await reports.next("ollama")
    assert monitor.is_down("ollama") is not None
    await monitor.wait_idle()
    clock.advance(monitor.next_probe_in("ollama"))
    r = await reports.next("ollama")
    assert r.status == "ok" and r.source == "probe"
    assert monitor.is_down("ollama") is None


async def test_providers_added_while_running_are_probed_and_removed_ones_dropped(monitor, clock, heng, sim, keys):
    reports, _ = await start(monitor, clock)
    heng.store.add_provider("second", "openai", sim.openai_url)
    keys.set("second", "sk-test-key")
    monitor.forget("second")  # what Settings does after a change: wakes the scheduler
    r = await reports.next("second")
    assert r.status == "ok"
    heng.store.remove_provider("second")
    await monitor.wait_idle()
    clock.advance(10)
    await reports.next("ollama")
    assert monitor.report("second") is None


async def test_lm_studio_absent_is_not_a_problem_unless_used(monitor, clock, heng, monkeypatch):
    # the implicit LM Studio (no set-up), at an address where nothing listens
    from dataclasses import replace

    from desktop.providers import PRESETS

    monkeypatch.setitem(PRESETS, "lmstudio", replace(PRESETS["lmstudio"], base_url=f"http://127.0.0.1:{free_port()}/v1"))
    heng.store.remove_provider("lmstudio")
    heng.forget_provider("lmstudio")
    [r] = await monitor.probe_now("lmstudio")
    assert r.status == "down"
    assert "lmstudio" not in [x.name for x in monitor.reports()]
    assert "lmstudio" in [x.name for x in monitor.reports(include_absent=True)]
    assert "lmstudio" not in [x.name for x in await probe_all(heng)]
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("lmstudio", "qwen2.5-7b-instruct"))
    assert "lmstudio" in [x.name for x in await probe_all(heng)]


async def test_probes_keep_running_while_a_chat_streams(monitor, clock, heng, sim):
    reports, _ = await start(monitor, clock)
    sim.inject(Fault("stall", protocol="ollama", after_chunks=2, delay=None))
    streaming = asyncio.Event()

    def on_event(ev):
        if isinstance(ev, AnswerDelta):
            streaming.set()

    chat = asyncio.create_task(heng.send(None, "tell me about probes", mode=ModelRef("ollama", "llama3.2:latest"),
                                         on_event=on_event))
    await asyncio.wait_for(streaming.wait(), 10)
    # the answer is stalled mid-stream; the monitor keeps probing on the same loop and client
    for _ in range(2):
        await monitor.wait_idle()
        clock.advance(10)
        r = await reports.next("ollama")
        assert r.status == "ok"
    assert not chat.done()
    sim.release_stalls()
    result = await asyncio.wait_for(chat, 10)
    assert result.status == "complete"


async def test_stop_cancels_the_scheduler(heng, clock):
    mon = HealthMonitor(heng, clock=clock, sleep=clock.sleep, jitter=0)
    mon.start()
    mon.start()  # idempotent
    assert mon.running
    await mon.wait_idle()
    assert clock.sleeps  # parked on the injected sleep, not polling
    await mon.stop()
    assert not mon.running


async def test_a_listener_that_raises_does_not_stop_the_monitor(monitor, clock):
    def bad(_report):
        raise RuntimeError("boom")

    monitor.subscribe(bad)
    reports, first = await start(monitor, clock)
    assert first["work"].status == "ok"
    assert monitor.running


async def test_unsubscribe(heng):
    mon = HealthMonitor(heng, jitter=0)
    seen = []
    unsubscribe = mon.subscribe(seen.append)
    await mon.probe_now("work")
    unsubscribe()
    await mon.probe_now("work")
    assert len(seen) == 1


def test_route_desk_error_is_accepted_by_record_failure(heng):
    mon = HealthMonitor(heng, jitter=0)
    mon.record_failure("work", RouteDeskError(ErrorKind.QUOTA_EXHAUSTED, "no credit", "pay", provider="work"))
    assert mon.is_down("work").error_kind == "quota_exhausted"


# --- the engine uses health ---------------------------------------------------------------------


def test_skip_reason_skips_a_down_provider_unless_every_candidate_is_down(heng):
    from desktop.engine.health import skip_reason

    mon = HealthMonitor(heng, jitter=0)
    strong, weak = ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2:latest")
    assert skip_reason(None, strong, [strong, weak]) is None
    assert skip_reason(mon, strong, [strong, weak]) is None  # nothing known yet: try it
    mon.record_failure("work", unreachable("work"))
    info = skip_reason(mon, strong, [strong, weak])
    assert info is not None and info.kind == "unreachable" and info.model == "gpt-4o"
    assert skip_reason(mon, weak, [strong, weak]) is None
    mon.record_failure("ollama", unreachable("ollama"))
    assert skip_reason(mon, strong, [strong, weak]) is None  # all down: try anyway


async def test_engine_skips_a_provider_known_to_be_down_and_says_why(heng, sim):
    mon = HealthMonitor(heng, jitter=0)
    heng.health = mon
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
    mon.record_failure("work", unreachable("work"))
    before = len(chat_requests(sim))
    result = await heng.send(None, "hello", mode="strong")
    assert result.status == "complete" and result.model == ModelRef("ollama", "llama3.2:latest")
    first = result.attempts[0]
    assert first.model == ModelRef("work", "gpt-4o") and first.skipped
    assert first.error.message.startswith("Skipped work/gpt-4o")
    assert [r.path for r in chat_requests(sim)[before:]] == ["/api/chat"]  # OpenAI never called
    assert mon.report("ollama").last_success is not None  # the success was recorded


async def test_engine_marks_a_provider_after_a_failed_chat(heng, sim):
    mon = HealthMonitor(heng, jitter=0)
    heng.health = mon
    heng.set_pair(ModelRef("work", "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
    sim.inject(Fault("auth_invalid", protocol="openai"))
    result = await heng.send(None, "hello", mode="strong")
    assert result.model == ModelRef("ollama", "llama3.2:latest")
    assert mon.is_down("work") is not None and mon.report("work").error_kind == "auth_invalid"


async def test_an_ollama_address_where_something_else_answers(heng, sim):
    # The simulator's OpenAI-compatible side (under /lmstudio) 404s Ollama's /api paths.
    heng.store.add_provider("gpu", "ollama", sim.base_url + "/lmstudio")
    [report] = await probe_all(heng, only="gpu")
    assert report.status == "misconfigured"
    assert "isn't Ollama's API" in report.explanation and "11434" in fix_text(report.fix)


def test_a_milder_traffic_error_does_not_hide_a_known_outage(heng):
    mon = HealthMonitor(heng, jitter=0)
    mon.record_failure("work", RouteDeskError(ErrorKind.AUTH_INVALID, "bad key", "new key", provider="work"))
    mon.record_failure("work", ErrorInfo("timeout", "slow", "wait", provider="work"))
    assert mon.is_down("work").error_kind == "auth_invalid"
    mon.record_success("work")
    assert mon.is_down("work") is None and mon.report("work").status == "ok"


async def test_changing_a_provider_clears_its_known_outage(heng, sim):
    mon = HealthMonitor(heng, jitter=0)
    heng.health = mon
    mon.record_failure("work", unreachable("work"))
    assert mon.is_down("work") is not None
    heng.forget_provider("work")  # what Settings calls after a new key or URL
    assert mon.is_down("work") is None
