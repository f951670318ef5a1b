from sqlalchemy import inspect, text
from tests.helpers import outing

def snap(api):
    engine = api.ctx.store.engine
    with engine.connect() as c:
        return {t: sorted(repr(tuple(r)) for r in c.execute(text(f'SELECT * FROM "{t}"'))) for t in inspect(engine).get_table_names()}

def diff(a, b):
    return {t: (set(a[t]) ^ set(b[t])) for t in a if a[t] != b[t]}

def test_probe(api):
    headers, body = api.custodial_citizen(display_name="X")
    admin = api.staff("admin")
    c = api.client.post("/v1/claims", json=outing(), headers=headers)
    api.settle()
    reward = api.client.post("/v1/rewards", json={"title": "T", "cost": 10000}, headers=admin).json()
    import time; time.sleep(1)
    s0 = snap(api); h0 = api.ledger.head()
    r = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    print(r.status_code, r.text)
    s1 = snap(api); print("REDEEM DIFF", diff(s0, s1), api.ledger.head() - h0)
    r = api.client.post("/v1/claims", json=outing(distance_meters="x"), headers=headers)
    s2 = snap(api); print("CLAIM DIFF", diff(s1, s2))
    r = api.client.get("/v1/claims/1", headers=api.staff("minter"))
    s3 = snap(api); print("STAFF DIFF", {k: len(v) for k, v in diff(s2, s3).items()})
    for path in ["/v1/verify/activities/" + str(2**70), "/v1/verify/events/" + str(2**70) + "/badges/" + body["address"],
                 "/v1/events/" + str(2**64), "/v1/claims/" + str(2**64)]:
        r = api.client.get(path, headers=headers)
        print(path, r.status_code, r.text[:200])
    for aid in (2**64 - 1, 2**63, 2**70, 12345):
        r = api.client.post(f"/v1/activities/{aid}/reverse", json={"reason_code": 1}, headers=admin)
        print("reverse", aid, r.status_code, r.text[:200])
    for o in [dict(ended_at="9999-12-31T23:59:59-12:00"), 
              dict(started_at="2026-01-01T00:00:00", ended_at="2026-01-01T01:00:00")]:
        r = api.client.post("/v1/claims", json=outing(**o), headers=headers)
        print(o, r.status_code, r.text[:300])
    issuer = api.staff("issuer")
    for ev in [dict(title="x" * 10000), dict(description="y" * 100000), dict(claim_start="2030-01-01T00:00:00"),
               dict(claim_start=200, claim_end=100), dict(uri="ipfs://x")]:
        b = {"title": "T", "venue": "physical", "claim_start": 0, "claim_end": "2099-01-01T00:00:00+09:00"} | ev
        r = api.client.post("/v1/events", json=b, headers=issuer)
        print({k: str(v)[:30] for k, v in ev.items()}, r.status_code, r.text[:300])
    ev = api.client.post("/v1/events", json={"title": "T", "venue": "physical", "claim_start": 0, "claim_end": "2099-01-01T00:00:00+09:00"}, headers=issuer).json()
    for csvb in [b"address\n" + b"a" * 5000 + b"\n", "address\n" + "\n".join([body["address"]] * 20001) + "\n"]:
        if isinstance(csvb, str): csvb = csvb.encode()
        r = api.client.post(f"/v1/events/{ev['event_id']}/badges", content=csvb, headers=issuer | {"Content-Type": "text/csv"})
        print("csv", len(csvb), r.status_code, r.text[:300])
