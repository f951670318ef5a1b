def test_probe(api):
    issuer = api.staff("issuer")
    base = {
        "title": "T",
        "venue": "physical",
        "claim_start": "2026-01-01T00:00:00+09:00",
        "claim_end": "2099-01-01T00:00:00+09:00",
    }
    for ev in [
        dict(claim_start=-1),
        dict(claim_start=100.5),
        dict(claim_start=True),
        dict(capacity=1.0),
        dict(claim_end=2**64),
        dict(claim_start=2**63 - 1, claim_end=2**63 - 1),
        dict(claim_end="2099-01-01T00:00:00+09:00", claim_start="2099-12-31T00:00:00+09:00"),
        dict(claim_end=1000),
    ]:
        h = api.ledger.head()
        r = api.client.post("/v1/events", json=base | ev, headers=issuer)
        print(ev, r.status_code, r.text[:250], api.ledger.head() - h)
    ev = api.client.post("/v1/events", json=base, headers=issuer).json()
    for b in [
        {"attendees": ["0x" + "00" * 20]},
        {"attendees": ["0x" + "zz" * 20]},
        {"attendees": []},
        {"attendees": "x"},
    ]:
        r = api.client.post(f"/v1/events/{ev['event_id']}/badges", json=b, headers=issuer)
        print(b, r.status_code, r.text[:250])
    r = api.client.post(
        f"/v1/events/{ev['event_id']}/badges",
        content=b"address\n\xff\xfe\x00\n",
        headers=issuer | {"Content-Type": "text/csv"},
    )
    print("csv", r.status_code, r.text[:250])
    for a in ["0x1234", "nonsense", "0x" + "g" * 40, "0x" + "aB" * 20, "0x" + "a" * 5000, ""]:
        r = api.client.get(f"/v1/verify/citizens/{a}")
        print(a[:20], r.status_code, r.text[:150])
