from tests.api.routes.test_events import _event_body
import logging

def test_scratch(api, caplog):
    for bad in ({"venue": "online"}, {"title": ""}, {"capacity": -1}, {"claim_start": -5}, {"extra": 1}, {"uri": "x"}):
        r = api.client.post("/v1/events", json=_event_body(api, **bad), headers=api.staff("issuer"))
        print("BAD", bad, r.status_code, r.text[:300])
    print("\n".join(r.getMessage()+str(r.exc_info) for r in caplog.records if r.levelno >= logging.ERROR)[:3000])
    assert 0
