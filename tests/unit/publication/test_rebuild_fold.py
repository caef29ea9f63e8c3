"""The rebuild's fold: the whole history in any partition interleaving gives the live rules' listing."""

from __future__ import annotations

import datetime as dt
import random

from aiokafka.structs import ConsumerRecord

from tests.unit.publication.builders import provider, signed, terminated, wrap
from zorg_common.events import BankAccountChanged, Event
from zorg_publication.domain.listing import EntryKey
from zorg_publication.service_layer.rebuild import Fold


def record(value: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("zorg.contracts", 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


def history() -> list[Event]:
    return [
        provider("11111111", "Noord", version=1),
        provider("11111111", "Noord BV", version=2),
        signed("11111111", "A", years=(2023,), version=1),
        signed("11111111", "A", years=(2023, 2024), version=2),
        provider("22222222", "Zuid"),
        signed("22222222", "B", sector="GGZ", years=(2021, 2022)),
        terminated("22222222", "B", sector="GGZ"),
        signed("22222222", "C", sector="GGZ", years=(2022,)),
        BankAccountChanged(agb="22222222", iban="NL91ABNA0417164300", holder="Zuid", changed_on=dt.date(2023, 1, 1)),
    ]


def test_the_fold_gives_the_same_entries_in_any_order_with_doubles() -> None:
    values = [wrap(e).to_json() for e in history()]
    results = []
    for seed in range(20):
        shuffled = values + values[:3]
        random.Random(seed).shuffle(shuffled)
        fold = Fold()
        for n, value in enumerate(shuffled):
            fold.add_record(record(value, n))
        results.append(fold.entries(dt.date(2023, 7, 1)))
    assert all(r == results[0] for r in results)
    entries = results[0]
    assert sorted(entries) == [
        EntryKey(2022, "GGZ", "22222222"),
        EntryKey(2023, "GLI", "11111111"),
        EntryKey(2024, "GLI", "11111111"),
    ]
    assert entries[EntryKey(2023, "GLI", "11111111")].name == "Noord BV"
    assert entries[EntryKey(2024, "GLI", "11111111")].contract_years == [2023, 2024]


def test_other_types_are_passed_over_and_unreadable_messages_counted() -> None:
    fold = Fold()
    for n, value in enumerate([wrap(history()[-1]).to_json(), b"not json", b'{"type": "ContractSigned"}']):
        fold.add_record(record(value, n))
    assert (fold.applied, fold.ignored, fold.unreadable) == (0, 1, 2)
