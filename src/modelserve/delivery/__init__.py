"""Model delivery: validation gates, the git repository that receives pushes, and promotion.

``git push production`` runs ``receive.pre_receive`` (gates, before any ref moves) and
``receive.post_receive`` (add to the store, switch the current version)."""
