"""The consumer's own terms (IEEE 7012 MyTerms): proffered agreements, the vendor's answer, signed records."""
