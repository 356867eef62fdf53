"""Bridge IOCs: caproto servers of the scanner's PV interface in front of real controllers
(``gi-ioc tube|piezo|stage``)."""
