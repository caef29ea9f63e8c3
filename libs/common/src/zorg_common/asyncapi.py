"""The AsyncAPI 3 document of the platform's events, generated from the event models and the services' specs.

Channels are the topics (and their dead-letter topics), messages the event types of
``zorg_common.events`` (each a CloudEvents envelope around its typed ``data``), and operations what
each service sends (the topics its outbox relay writes, ``ServiceSpec.publishes``) and receives
(its consumer groups). ``zorg asyncapi`` writes it; a test keeps the checked-in copy equal to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .events import DLQ_SUFFIX, EVENT_TYPES, CloudEvent, Event
from .service import ServiceSpec

ASYNCAPI_VERSION = "3.0.0"
#: The document's own version: raise it when a message's shape changes (with the models' DATAVERSION).
DOCUMENT_VERSION = "1.2.0"
CONTENT_TYPE = "application/cloudevents+json"

#: The Kafka record headers the relay sets on every message (the trace context while tracing is on).
_RECORD_HEADERS = {
    "type": "object",
    "properties": {
        "ce_type": {"type": "string", "description": "The CloudEvents type, as in the envelope."},
        "ce_id": {"type": "string", "description": "The CloudEvents id: consumers deduplicate on it."},
        "traceparent": {
            "type": "string",
            "description": "W3C trace context of the relay's send span (a child of the envelope's traceparent):"
            " the consumer's span continues it.",
        },
        "tracestate": {"type": "string", "description": "W3C tracestate that goes with traceparent."},
    },
    "required": ["ce_type", "ce_id"],
}

#: What a consumer adds when it gives up on a message (``zorg_common.consumer``).
_DEAD_LETTER_HEADERS = {
    "type": "object",
    "properties": {
        name: {"type": "string", "description": text}
        for name, text in (
            ("zorg_error", "The error, shortened; never personal data."),
            ("zorg_error_type", "The exception's class name."),
            ("zorg_error_trace", "The end of the traceback."),
            ("zorg_original_topic", "Where the message was read."),
            ("zorg_original_partition", "Its partition there."),
            ("zorg_original_offset", "Its offset there."),
            ("zorg_consumer_group", "The consumer group that gave up."),
            ("zorg_attempts", "How often it was tried."),
        )
    },
    "required": ["zorg_error", "zorg_original_topic", "zorg_consumer_group"],
}

_KEY = {
    "type": "string",
    "pattern": r"^\d{8}$",
    "description": "The provider's AGB code: one provider's events keep their order.",
}


def _lift(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move pydantic's ``$defs`` into ``components.schemas`` (refs already point there)."""
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    return schema


def _model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    return _lift(model.model_json_schema(ref_template="#/components/schemas/{model}"), schemas)


def _envelope_schema(event: type[Event], schemas: dict[str, Any]) -> dict[str, Any]:
    envelope = _model_schema(CloudEvent, schemas)
    properties = envelope["properties"]
    properties["type"] = {"type": "string", "const": event.TYPE}
    properties["dataversion"] = {"type": "string", "const": event.DATAVERSION}
    properties["subject"] = {**_KEY, "description": "The provider's AGB code (the Kafka key)."}
    properties["data"] = {"$ref": f"#/components/schemas/{event.TYPE}"}
    envelope["title"] = f"{event.TYPE} envelope"
    return envelope


def _types_on(topic: str) -> list[type[Event]]:
    return sorted((m for m in EVENT_TYPES.values() if topic == m.TOPIC), key=lambda m: m.TYPE)


def _channel_id(topic: str) -> str:
    return topic.replace(".", "-")


def _message_refs(topic: str, types: Sequence[str]) -> dict[str, Any]:
    return {t: {"$ref": f"#/channels/{_channel_id(topic)}/messages/{t}"} for t in types}


def document(specs: Mapping[str, ServiceSpec]) -> dict[str, Any]:
    """The whole AsyncAPI document, as plain data (deterministic: the same models give the same document)."""
    topics = sorted({m.TOPIC for m in EVENT_TYPES.values()})
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in sorted(EVENT_TYPES.values(), key=lambda m: m.TYPE):
        schemas[model.TYPE] = _model_schema(model, schemas)
        messages[model.TYPE] = {
            "name": model.TYPE,
            "title": model.TYPE,
            "summary": (model.__doc__ or model.TYPE).strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "headers": _RECORD_HEADERS,
            "payload": _envelope_schema(model, schemas),
            "bindings": {"kafka": {"key": _KEY, "bindingVersion": "0.5.0"}},
            "x-dataversion": model.DATAVERSION,
        }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A message a consumer could not handle",
        "summary": "The original message, unchanged, with the error in its headers.",
        "contentType": CONTENT_TYPE,
        "headers": _DEAD_LETTER_HEADERS,
        "payload": {"description": "The original message's bytes (usually one of the envelopes of the topic)."},
    }
    channels: dict[str, Any] = {}
    for topic in topics:
        types = [m.TYPE for m in _types_on(topic)]
        channels[_channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
        }
        channels[_channel_id(topic + DLQ_SUFFIX)] = {
            "address": topic + DLQ_SUFFIX,
            "title": f"{topic} dead letters",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Zorginkoop events",
            "version": DOCUMENT_VERSION,
            "description": (
                "The events between the Zorginkoop services: CloudEvents 1.0 structured JSON envelopes on Kafka,"
                " keyed by the provider's AGB code, delivered at least once (consumers deduplicate on the event id)."
                " Generated by `zorg asyncapi` from the event models; do not edit by hand."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The cluster (KAFKA_BOOTSTRAP_SERVERS); topic names get KAFKA_TOPIC_PREFIX in front.",
                "variables": {"bootstrap": {"default": "kafka:9092"}},
            }
        },
        "channels": channels,
        "operations": _operations(specs, channels),
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _operations(specs: Mapping[str, ServiceSpec], channels: Mapping[str, Any]) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for spec in sorted(specs.values(), key=lambda s: s.name):
        for topic in spec.publishes:
            types = [m.TYPE for m in _types_on(topic)]
            operations[f"{spec.name}.send.{_channel_id(topic)}"] = {
                "action": "send",
                "title": f"{spec.name} sends {topic}",
                "summary": f"The {spec.name} service's outbox relay writes these events.",
                "channel": {"$ref": f"#/channels/{_channel_id(topic)}"},
                "messages": list(_message_refs(topic, types).values()),
            }
        for consumer in spec.consumers:
            for topic in consumer.topics:
                handled = [m.TYPE for m in _types_on(topic) if consumer.handles(m.TYPE)]
                if not handled or _channel_id(topic) not in channels:
                    continue
                operations[f"{spec.name}.receive.{consumer.group}.{_channel_id(topic)}"] = {
                    "action": "receive",
                    "title": f"{spec.name} ({consumer.group}) reads {topic}",
                    "summary": f"Consumer group {consumer.group}; other types on the topic are passed over.",
                    "channel": {"$ref": f"#/channels/{_channel_id(topic)}"},
                    "messages": list(_message_refs(topic, handled).values()),
                    "bindings": {"kafka": {"groupId": {"type": "string", "const": consumer.group}}},
                }
    return operations


def render(doc: Mapping[str, Any]) -> str:
    """The document as YAML, in a stable order (the order it was built in)."""
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    header = "# Generated by `zorg asyncapi` from the event models (libs/common/src/zorg_common/events.py).\n"
    return header + yaml.dump(dict(doc), Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=120)
