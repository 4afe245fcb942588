"""A patient's other studies on the PACS (priors_for) with a fake client."""

from __future__ import annotations

import pytest

from interval.net.errors import ServerUnreachable
from interval.net.model import StudyHit
from interval.net.priors import priors_for
from interval.net.query_form import InvalidQuery
from tests.net.fake_client import FakeClient


def _hit(uid: str, date: str, pid: str = "P1", time: str = "") -> StudyHit:
    return StudyHit(study_uid=uid, patient_id=pid, study_date=date, study_time=time)


def test_other_studies_newest_first_known_ones_left_out() -> None:
    client = FakeClient(studies=[
        _hit("a", "20200101"), _hit("b", "20220101"), _hit("c", "20210101"),
        _hit("known", "20230101"), _hit("d", ""), _hit("e", "20220101", time="120000"),
    ])
    priors = priors_for(client, "P1", {"known"})
    assert [h.study_uid for h in priors] == ["e", "b", "c", "a", "d"]
    assert client.queries[0].patient_id == "P1"


def test_only_the_exact_patient_id_is_kept_and_duplicates_once() -> None:
    class Loose(FakeClient):  # a server that matches IDs loosely
        def find_studies(self, query):
            return list(self.studies)

    client = Loose(studies=[_hit("a", "20200101"), _hit("x", "20200101", pid="P10"),
                            _hit("a", "20200101")])
    assert [h.study_uid for h in priors_for(client, "P1", [])] == ["a"]


@pytest.mark.parametrize("pid", ["", "  ", "(no patient ID)"])
def test_no_patient_id_is_said_in_words(pid: str) -> None:
    client = FakeClient()
    with pytest.raises(InvalidQuery, match="no Patient ID"):
        priors_for(client, pid, [])
    assert client.queries == []


def test_a_wildcard_id_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="wildcard"):
        priors_for(FakeClient(), "P*", [])


def test_server_errors_pass_through() -> None:
    client = FakeClient(fail={"find_studies": ServerUnreachable("The PACS does not answer.")})
    with pytest.raises(ServerUnreachable, match="does not answer"):
        priors_for(client, "P1", [])
