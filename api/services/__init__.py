"""The off-chain workflow as services that know no HTTP: claims, review, settlement, events,
rewards, citizens, verification and the indexer, each raising ``services.errors`` kinds."""
