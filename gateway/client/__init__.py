"""The members' client: builds and signs transactions with the member's own key, talks to the
gateway (``cityledger client``). Keys never leave the member's machine."""
