"""In-memory entity tables ordered by (updated_at, id), built for large tenants."""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Iterator

Record = dict[str, Any]
Entry = tuple[int, str]  # (updated_at as epoch seconds, id)

JOURNAL_KEEP = 8192


class EntityTable:
    """Records of one entity of one tenant.

    ``recs`` maps id -> record (the dict served as JSON), ``keys`` maps id -> updated_at as epoch
    seconds. ``order()`` is the list of ``(updated_at_epoch, id)`` sorted ascending: kept up to
    date incrementally for single changes and rebuilt lazily (``invalidate()``) after bulk loads.
    ``version`` increments on every change; ``changes_since(version)`` replays the recent ones
    so derived views (date filters, invalid-record merges) can be patched instead of rebuilt.
    """

    def __init__(self, name: str, id_prefix: str, code_field: str | None, code_prefix: str | None):
        self.name = name
        self.id_prefix = id_prefix
        self.code_field = code_field
        self.code_prefix = code_prefix
        self.recs: dict[str, Record] = {}
        self.keys: dict[str, int] = {}
        self._order: list[Entry] | None = []
        self.version = 0
        # business keys of hard-deleted records (references to them keep their served style)
        self.deleted_codes: dict[str, str] = {}
        # business key -> id where a control update changed the key away from the id's pattern
        self._recoded: dict[str, str] = {}
        self._journal: list[tuple[int, Entry | None, Entry | None]] = []
        self._journal_floor = 0  # changes after this version are all in the journal

    def __len__(self) -> int:
        return len(self.recs)

    def __contains__(self, rid: object) -> bool:
        return rid in self.recs

    def get(self, rid: str) -> Record | None:
        return self.recs.get(rid)

    def resolve(self, key: str) -> Record | None:
        """Look a record up by its ``id`` or by its human code (``EMP-000001`` for ``emp-000001``)."""
        rec = self.recs.get(key)
        if rec is not None or not self.code_field:
            return rec
        rid = self._recoded.get(key)
        if rid is not None:
            return self.recs.get(rid)
        if key.startswith(self.code_prefix):
            rec = self.recs.get(self.id_prefix + key[len(self.code_prefix):])
            if rec is not None and rec.get(self.code_field) != key and self._recoded:
                return None  # that record's key was changed to another one
        return rec

    def code_of(self, rid: str) -> str | None:
        """The business key of a current or hard-deleted record; None if unknown."""
        rec = self.recs.get(rid)
        if rec is not None:
            return rec.get(self.code_field) if self.code_field else None
        return self.deleted_codes.get(rid)

    def resolve_deleted(self, key: str) -> str | None:
        """The id of a hard-deleted record known by ``key`` (its id or its business key)."""
        if key in self.deleted_codes:
            return key
        for rid, code in self.deleted_codes.items():
            if code == key:
                return rid
        return None

    def recode(self, rid: str, old: Any, new: Any) -> None:
        """A record's business key changed from ``old`` to ``new`` (a control update)."""
        if isinstance(old, str):
            self._recoded.pop(old, None)
        if isinstance(new, str) and new:
            self._recoded[new] = rid

    # ------------------------------------------------------------------ changes
    def _note(self, old: Entry | None, new: Entry | None) -> None:
        j = self._journal
        j.append((self.version, old, new))
        if len(j) > 2 * JOURNAL_KEEP:
            self._journal_floor = j[-JOURNAL_KEEP - 1][0]
            del j[:-JOURNAL_KEEP]

    def put(self, rec: Record, key: int) -> None:
        """Insert or replace a record whose ``updated_at`` corresponds to epoch ``key``."""
        rid = rec["id"]
        old = self.keys.get(rid)
        self.recs[rid] = rec
        self.keys[rid] = key
        self.version += 1
        old_entry = (old, rid) if old is not None else None
        self._note(old_entry, (key, rid))
        order = self._order
        if order is not None:
            if old_entry is not None:
                i = bisect_left(order, old_entry)
                if i < len(order) and order[i] == old_entry:
                    del order[i]
                else:  # pragma: no cover - defensive
                    self._order = None
                    return
            insort(order, (key, rid))

    def put_many(self, items: list[tuple[Record, int]]) -> None:
        """Insert new records at once. When they all sort after the current last entry (new rows
        of an advance window) the ordered index is extended instead of re-sorted."""
        if not items:
            return
        recs, keys = self.recs, self.keys
        if any(rec["id"] in recs for rec, _ in items):
            for rec, key in items:
                self.put(rec, key)
            return
        self.version += 1
        for rec, key in items:
            recs[rec["id"]] = rec
            keys[rec["id"]] = key
        tail = sorted((key, rec["id"]) for rec, key in items)
        if len(tail) > JOURNAL_KEEP:
            self._journal.clear()
            self._journal_floor = self.version
        else:
            for entry in tail:
                self._note(None, entry)
        order = self._order
        if order is not None:
            if not order or tail[0] > order[-1]:
                order.extend(tail)
            else:
                self._order = None

    def touch(self, rid: str, key: int) -> None:
        """Move an existing record to ``key`` (its ``updated_at`` was changed by the caller)."""
        self.put(self.recs[rid], key)

    def delete(self, rid: str) -> Record | None:
        rec = self.recs.pop(rid, None)
        if rec is None:
            return None
        if self.code_field and rec.get(self.code_field):
            self.deleted_codes[rid] = rec[self.code_field]
        old = self.keys.pop(rid)
        self.version += 1
        self._note((old, rid), None)
        order = self._order
        if order is not None:
            i = bisect_left(order, (old, rid))
            if i < len(order) and order[i] == (old, rid):
                del order[i]
            else:  # pragma: no cover - defensive
                self._order = None
        return rec

    def changes_since(self, version: int) -> list[tuple[Entry | None, Entry | None]] | None:
        """(old entry, new entry) of every change after ``version``; None if no longer known."""
        if version == self.version:
            return []
        if version < self._journal_floor:
            return None
        j = self._journal
        i = len(j)
        while i > 0 and j[i - 1][0] > version:
            i -= 1
        return [(old, new) for _, old, new in j[i:]]

    # ------------------------------------------------------------------ order
    def invalidate(self) -> None:
        """Drop the ordered index; the next ``order()`` rebuilds it (use before bulk loads)."""
        self._order = None

    def order(self) -> list[Entry]:
        if self._order is None:
            self._order = sorted(zip(self.keys.values(), self.keys.keys()))
        return self._order

    def ordered_records(self) -> Iterator[Record]:
        recs = self.recs
        for _, rid in self.order():
            yield recs[rid]
