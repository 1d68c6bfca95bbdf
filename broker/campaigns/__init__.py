"""Campaigns on the server: the campaign file, the fit rule, each unit's set and its announcement."""

from broker.campaigns.announce import Announced, MqttAnnouncer, announce, signing_key
from broker.campaigns.files import load_campaign_file
from broker.campaigns.fit import refusal, shortfalls
from broker.campaigns.targets import quota_for, targeted_units, targets

__all__ = ["Announced", "MqttAnnouncer", "announce", "load_campaign_file", "quota_for", "refusal", "shortfalls",
           "signing_key", "targeted_units", "targets"]
