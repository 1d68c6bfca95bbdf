"""What the collector keeps of a play's campaign, and what a pasted campaign file can do: every
play names its campaign in the store (a board from before campaigns: the registry's), a play
naming a campaign its unit is not targeted by is stored all the same, and whatever text is pasted
as a campaign is a campaign or one ConfigError, never anything else."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.campaigns.files import load_campaign_text
from broker.collector.batch import Incoming, prepare
from broker.store import open_store
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.errors import ConfigError

START = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)


def incoming(seq: int, device: str, campaign: str | None) -> Incoming:
    play = protocol.Play(device=device, stream=uuid.UUID(int=7), seq=seq,
                         content={"id": "ihanoi-promo", "version": 1, "sha256": "0" * 64},
                         start=START + timedelta(minutes=20 * seq), end=START + timedelta(minutes=20 * seq, seconds=30),
                         completed=True, audience=1, reason="peak", clock_synced=True, campaign=campaign)
    return Incoming(protocol.Topics().up(device, "play"), protocol.encode(play), seq, 1, 0)


def test_every_stored_play_names_its_campaign_and_foreign_ones_are_kept(registry, tmp_path):
    batch = [incoming(1, "hbt-bach-mai-01", None), incoming(2, "hbt-bach-mai-01", "tuan-le-y-te"),
             incoming(3, "hbt-bach-dang-01", "tuan-le-y-te")]      # Bạch Đằng is not targeted: kept anyway
    prepared = prepare(batch, protocol.Topics(), registry, START + timedelta(hours=2))
    assert not prepared.quarantined
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    assert store.write_batch(prepared.events).stored == {"play": 3}
    got = {(r.device, r.campaign) for r in store.plays(date(2024, 9, 4), date(2024, 9, 4))}
    assert got == {("hbt-bach-mai-01", "ihanoi"), ("hbt-bach-mai-01", "tuan-le-y-te"),
                   ("hbt-bach-dang-01", "tuan-le-y-te")}
    store.close()


def test_a_campaign_naming_no_valid_id_is_quarantined_with_its_reason(registry):
    bad = incoming(1, "hbt-bach-mai-01", None)
    payload = bad.payload.replace(b'"campaign":null', b'"campaign":"NOT AN ID"')
    if payload == bad.payload:                          # the encoder leaves an absent campaign out
        payload = bad.payload[:-1] + b',"campaign":"NOT AN ID"}'
    prepared = prepare([Incoming(bad.topic, payload, 1, 1, 0)], protocol.Topics(), registry, START)
    (kept,) = prepared.quarantined
    assert kept["reason"] == "invalid" and "campaign" in kept["detail"]


KEYS = st.sampled_from(["id", "title", "first_day", "last_day", "starts", "ends", "content_id", "quota",
                        "min_gap_minutes", "seek_peaks", "play_seconds", "bundle", "target", "directive", "x"])
VALUES = st.one_of(st.integers(-5, 500), st.text(max_size=12), st.booleans(), st.dates(), st.times(),
                   st.lists(st.text(max_size=8), max_size=3))


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value.isoformat()          # a date or a time of day


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300),
                 st.dictionaries(KEYS, VALUES, max_size=10).map(
                     lambda d: "\n".join(f"{k} = {_toml(v)}" for k, v in d.items()))))
def test_whatever_is_pasted_is_a_campaign_or_a_config_error(registry, text):
    try:
        campaign, seconds = load_campaign_text(text, "pasted", registry)
    except ConfigError as exc:
        assert str(exc).startswith("pasted")
    else:
        assert campaign.id and seconds >= 1
