"""A small payments service: charge a card once, credit the merchant's wallet."""
