-- The pickup locations of the joins chapter (the course's rides_location topic), as the view
-- pickup_locations: schemas/pickup_location.avsc, event time the pickup. `./rides datagen
-- --stream pickup-locations` produces them. The local profile registers it for stream_sql.
CREATE STREAM pickup_locations
WITH (KAFKA_TOPIC='pickup_locations', VALUE_FORMAT='JSON', SCHEMA='pickup_location');
