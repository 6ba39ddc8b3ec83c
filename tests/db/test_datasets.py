"""db/datasets.py: a dataset's images go to storage under its id, its rows keep the
upload order and captions, and every read is scoped by owner."""

import uuid
from datetime import timedelta

from db.datasets import create_dataset, dataset_file_key, get_dataset, list_datasets
from db.models import Dataset, utcnow
from db.storage import make_storage
from db.uploads import PreparedImage


def prepared(filename: str, caption: str | None = None) -> PreparedImage:
    data = f"png of {filename}".encode()
    return PreparedImage(filename=filename, data=data, width=4, height=3, sha256="0" * 64, caption=caption)


def test_a_dataset_is_stored_then_recorded_in_upload_order(session, settings):
    storage = make_storage(settings)

    dataset = create_dataset(
        session, storage, owner="alice", name="pets", images=[prepared("b.png", "a bee"), prepared("a.png")]
    )
    session.commit()

    row = get_dataset(session, dataset.id, owner="alice")
    assert [(file.index, file.filename, file.caption) for file in row.files] == [
        (0, "b.png", "a bee"),
        (1, "a.png", None),
    ]
    assert [file.storage_key for file in row.files] == [dataset_file_key(dataset.id, index) for index in (0, 1)]
    assert dataset_file_key(dataset.id, 1) == f"datasets/{dataset.id}/1.png"
    assert storage.get(row.files[1].storage_key) == b"png of a.png"
    assert row.total_bytes == len(b"png of b.png") + len(b"png of a.png")


def test_another_owners_or_a_missing_dataset_is_none(session, settings):
    dataset = create_dataset(session, make_storage(settings), owner="alice", name=None, images=[prepared("a.png")])
    session.commit()

    assert get_dataset(session, dataset.id, owner="bob") is None
    assert get_dataset(session, uuid.uuid4(), owner="alice") is None


def test_datasets_are_listed_newest_first_after_a_given_one(session):
    moment = utcnow()
    # Two share a timestamp: they are ordered by id, and a page boundary between
    # them must neither lose nor repeat one.
    older = Dataset(owner="alice", total_bytes=0, created_at=moment - timedelta(seconds=1))
    twins = [Dataset(owner="alice", total_bytes=0, created_at=moment) for _ in range(2)]
    session.add_all([older, *twins, Dataset(owner="bob", total_bytes=0, created_at=moment)])
    session.commit()

    first = list_datasets(session, owner="alice", limit=2)
    rest = list_datasets(session, owner="alice", before=(first[-1].created_at, first[-1].id), limit=2)

    assert first + rest == sorted(twins, key=lambda dataset: dataset.id, reverse=True) + [older]
