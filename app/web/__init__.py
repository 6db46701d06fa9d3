"""The customer's side: sign-up, verification, B2B onboarding and portal activation pages and API."""
