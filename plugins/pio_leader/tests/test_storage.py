"""Schema versions and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import peewee
import pytest

from pio_leader.storage import Inserter, SchemaVersion, StorageError, TableSet, ensure_schema, open_database


def _v1_model():
    class Reading(peewee.Model):
        experiment = peewee.TextField()
        timestamp = peewee.TextField()

        class Meta:
            table_name = "plugin_readings"

    return Reading


def _v2_model():
    class Reading(peewee.Model):
        experiment = peewee.TextField()
        timestamp = peewee.TextField()
        value_c = peewee.DoubleField(null=True)

        class Meta:
            table_name = "plugin_readings"
            indexes = ((("experiment", "timestamp"), True),)

    return Reading


def _add_value_column(db, migrator):
    from playhouse.migrate import migrate

    migrate(migrator.add_column("plugin_readings", "value_c", peewee.DoubleField(null=True)),
            migrator.add_index("plugin_readings", ("experiment", "timestamp"), True))


def test_a_database_made_by_an_older_version_is_migrated_when_opened(db_url):
    db = open_database(db_url)
    old = _v1_model()
    assert ensure_schema(db, [TableSet("plugin", [old], {})]) == {"plugin": (None, 1)}
    old.insert_many([{"experiment": "e", "timestamp": f"t{i}"} for i in range(3)]).execute()
    db.close()

    db = open_database(db_url)
    new = _v2_model()
    assert ensure_schema(db, [TableSet("plugin", [new], {}, [_add_value_column])]) == {"plugin": (1, 2)}
    assert [r.timestamp for r in new.select().order_by(new.timestamp)] == ["t0", "t1", "t2"]
    cursor = db.cursor()
    Inserter(db, new).insert(cursor, [("e", "t0", 1.5), ("e", "t9", 2.5)])  # t0 is a duplicate now
    assert new.select().count() == 4
    assert SchemaVersion.get(SchemaVersion.table_set == "plugin").version == 2
    assert ensure_schema(db, [TableSet("plugin", [new], {}, [_add_value_column])]) == {"plugin": (2, 2)}


def test_a_database_newer_than_the_software_is_refused_with_a_clear_message(db_url):
    db = open_database(db_url)
    ensure_schema(db, [TableSet("plugin", [_v2_model()], {}, [_add_value_column])])
    with pytest.raises(StorageError, match="newer than this software"):
        ensure_schema(db, [TableSet("plugin", [_v1_model()], {})])


def test_values_reach_sql_as_parameters(db_url):
    db = open_database(db_url)
    model = _v2_model()
    ensure_schema(db, [TableSet("plugin", [model], {}, [_add_value_column])])
    nasty = "x'); DROP TABLE plugin_readings; --"
    Inserter(db, model).insert(db.cursor(), [(nasty, '"; DELETE FROM schema_versions; --', 1.0)])
    assert model.get().experiment == nasty and SchemaVersion.select().count() == 1


def test_an_unknown_database_url_is_refused_with_what_to_write():
    with pytest.raises(StorageError, match="expected sqlite:///"):
        open_database("mysql://nope")
