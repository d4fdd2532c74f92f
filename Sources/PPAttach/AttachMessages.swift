// The attach transport.
