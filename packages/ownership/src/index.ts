export { electOwners, hasQuorum, quorumSize, rankCandidates, rendezvousScore, vipsToHold, type Candidate, type ElectionInput, type LocalClaimInput, type QuorumInput } from './election.js';
