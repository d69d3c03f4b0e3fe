//! Integration tests of deai-roles.
