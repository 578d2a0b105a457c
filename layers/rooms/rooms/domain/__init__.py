"""Pure domain: capacity rules, identities, overflow planning and errors. No AWS here."""
