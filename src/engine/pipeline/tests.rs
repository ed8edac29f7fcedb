//! Pipeline tests from Loki's logqltest cases.
